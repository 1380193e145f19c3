"""Boot a kernel at many sizes, in parallel, and keep a manifest of every boot.

A *lab* is what stays fixed over a campaign (kernel, initramfs, qemu, machine, command
line, accelerator); a *boot* is one (memory, vCPUs) point. Each boot writes one console
log ``<size>-<n>cpu[-tag].log`` into the output directory, and ``manifest.json`` there
lists every boot with the exact qemu command, wall time and outcome. The manifest is
rewritten atomically after every boot, so it always matches the logs beside it and is
never half-written; boots of another kernel are refused rather than mixed in.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from planner import __version__
from planner.bootlab import fetch, qemu
from planner.bootlab.image import Arch, KernelImage, read_kernel_image
from planner.bootlab.initramfs import cached_initramfs, check_busybox
from planner.errors import InputError
from planner.evidence.manifest import MANIFEST_NAME
from planner.files import write_atomic
from planner.units import KIB_PER_MIB, size_label_kib

MANIFEST_SCHEMA_VERSION = 1
#: seconds a boot may take before qemu is killed (the reference used 300)
DEFAULT_TIMEOUT_S = 300.0
#: the KVM probe boot: size, and how long it may take (a /dev/kvm can exist and hang)
KVM_PROBE_MEMORY_KIB = 256 * KIB_PER_MIB
KVM_PROBE_TIMEOUT_S = 20.0

Accel = Literal["auto", "tcg", "kvm"]


@dataclass(frozen=True)
class KernelSource:
    """The kernel a lab boots, with where it came from."""

    image: KernelImage
    sha256: str
    package: str | None = None
    version: str | None = None
    requested: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.image.path),
            "sha256": self.sha256,
            "arch": self.image.arch,
            "package": self.package,
            "version": self.version,
            "requested": self.requested,
            "version_text": self.image.version_text,
        }


@dataclass(frozen=True)
class Lab:
    """Everything fixed over a campaign."""

    arch: Arch
    kernel: KernelSource
    initrd: Path
    initrd_sha256: str
    busybox: dict[str, Any]
    qemu: str
    qemu_version: str
    machine: str
    cmdline: str
    accel: Literal["tcg", "kvm"]
    timeout_s: float
    kvm_probe: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BootSpec:
    """One boot of a campaign: RAM, vCPUs, an optional tag for the log name, and the kernel
    arguments when they differ from the lab's (``console=`` and ``panic=-1`` are added)."""

    memory_kib: int
    vcpu_count: int = 1
    tag: str = ""
    node_count: int = 1
    cmdline: str | None = None

    @property
    def label(self) -> str:
        """``128MiB-1cpu``, ``64GiB-4cpu-4node`` or ``512MiB-1cpu-crashkernel``: the log's name
        without ``.log``."""
        base = f"{size_label_kib(self.memory_kib)}-{self.vcpu_count}cpu"
        if self.node_count > 1:
            base += f"-{self.node_count}node"
        return f"{base}-{self.tag}" if self.tag else base


@dataclass(frozen=True)
class BootRecord:
    """One boot as the manifest lists it."""

    log: str
    memory_kib: int
    vcpu_count: int
    machine: str
    arch: str
    accel: str
    cmdline: str
    qemu_argv: list[str]
    boot_wall_s: float
    outcome: str
    qemu_returncode: int | None
    reached_init: bool
    timeout_s: float
    started_utc: str
    kernel: dict[str, Any]
    #: NUMA nodes (qemu ``-numa``) and the RAM of each [KiB]
    numa_node_count: int = 1
    node_memory_kib: list[int] = field(default_factory=list)
    #: qemu's resident guest RAM, whole-process VmRSS and VmHWM when the dump ended [KiB]
    guest_ram_resident_kib: int | None = None
    qemu_rss_kib: int | None = None
    qemu_peak_rss_kib: int | None = None


@dataclass(frozen=True)
class FindMinResult:
    """Outcome of :func:`find_min`: smallest size that reached the dump, and what failed below."""

    min_boot_kib: int
    below_kib: int | None
    below_outcome: str | None
    records: list[BootRecord]


def resolve_kernel(
    spec: str,
    *,
    arch: str | None = None,
    cache: Path | None = None,
    allow_system_changes: bool = False,
) -> KernelSource:
    """A ``--kernel`` value (a vmlinuz path or a Debian package name) -> :class:`KernelSource`."""
    path = Path(spec).expanduser()
    if path.exists() or "/" in spec or not fetch.looks_like_package(spec):
        image = read_kernel_image(path, expected_arch=arch)
        return KernelSource(image=image, sha256=fetch.sha256_file(path))
    try:
        pkg = fetch.fetch_package(spec, cache=cache, allow_system_changes=allow_system_changes)
    except fetch.PackageNotFoundError as err:
        raise InputError(
            f"expected a kernel image file or a Debian package; found {spec!r}: no such file, "
            f"and apt knows no such package ({err.detail})",
            field="--kernel",
        ) from None
    vmlinuz = fetch.kernel_in_package(pkg)
    image = read_kernel_image(vmlinuz, expected_arch=arch)
    return KernelSource(
        image=image,
        sha256=fetch.sha256_file(vmlinuz),
        package=pkg.package,
        version=pkg.version,
        requested=spec,
    )


def _kvm_usable_here(arch: Arch) -> bool:
    return (
        platform.machine() == arch and os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
    )


_PROBE_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def probe_kvm(
    *, qemu_binary: str, arch: Arch, kernel: Path, kernel_sha256: str, initrd: Path, machine: str
) -> dict[str, Any]:
    """Boot the kernel once under KVM with a short timeout; KVM is used only if it dumps.

    Returns the probe record ``{"ran", "usable", "outcome", "boot_wall_s", "reason"}``.
    """
    key = (qemu_binary, kernel_sha256)
    if key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    if not _kvm_usable_here(arch):
        result: dict[str, Any] = {
            "ran": False,
            "usable": False,
            "reason": f"no usable /dev/kvm for {arch} on this {platform.machine()} host",
        }
    else:
        argv = qemu.qemu_argv(
            qemu=qemu_binary,
            arch=arch,
            kernel=kernel,
            initrd=initrd,
            memory_kib=KVM_PROBE_MEMORY_KIB,
            vcpu_count=1,
            machine=machine,
            cmdline=qemu.full_cmdline(arch),
            accel="kvm",
        )
        with tempfile.TemporaryDirectory(prefix="planner-kvm-probe-") as tmp:
            log = Path(tmp) / "probe.log"
            run = qemu.run_qemu(argv, log, timeout_s=KVM_PROBE_TIMEOUT_S)
            outcome = qemu.classify(qemu.read_console(log), run)
        result = {
            "ran": True,
            "usable": outcome == "dump",
            "outcome": outcome,
            "boot_wall_s": run.boot_wall_s,
            "reason": f"KVM probe boot at {size_label_kib(KVM_PROBE_MEMORY_KIB)}: {outcome}",
        }
    _PROBE_CACHE[key] = result
    return result


def prepare_lab(
    kernel: str,
    *,
    arch: str | None = None,
    machine: str | None = None,
    cmdline: str = qemu.DEFAULT_CMDLINE,
    accel: Accel = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    busybox: Path | None = None,
    cache: Path | None = None,
    allow_system_changes: bool = False,
) -> Lab:
    """Resolve the kernel, qemu and busybox, build the initramfs, pick the accelerator.

    Parameters
    ----------
    kernel
        A vmlinuz/bzImage path or a Debian package name (``linux-image-s390x:s390x``).
    arch
        ``x86_64`` or ``s390x``; default: the kernel image's. A mismatch is refused.
    machine
        qemu machine type; default ``pc`` (x86_64) or ``s390-ccw-virtio``.
    cmdline
        Kernel arguments besides ``console=`` and ``panic=-1``, which are always added.
    accel
        ``tcg``; ``kvm``; ``auto`` = KVM only if a short probe boot reaches the dump.
    timeout_s
        Hard limit per boot. [s]
    busybox
        A static busybox of the guest architecture; default Debian ``busybox-static``.
    """
    if arch is not None and arch not in qemu.QEMU_BINARY:
        raise InputError(f"expected one of {', '.join(qemu.QEMU_BINARY)}; found {arch!r}", field="--arch")
    if timeout_s <= 0:
        raise InputError(f"expected a positive number of seconds; found {timeout_s}", field="--timeout")
    source = resolve_kernel(kernel, arch=arch, cache=cache, allow_system_changes=allow_system_changes)
    the_arch = source.image.arch
    qemu_binary = qemu.find_qemu(the_arch)
    the_machine = qemu.check_machine(the_arch, machine)
    cache = cache or fetch.cache_dir()
    if busybox is None:
        busybox_path, pkg = fetch.fetch_busybox(
            the_arch, cache=cache, allow_system_changes=allow_system_changes
        )
        busybox_info: dict[str, Any] = {
            "package": pkg.package,
            "version": pkg.version,
            "deb_arch": pkg.deb_arch,
        }
    else:
        check_busybox(busybox, the_arch)
        busybox_path, busybox_info = busybox, {"package": None, "version": None}
    busybox_info |= {"path": str(busybox_path), "sha256": fetch.sha256_file(busybox_path)}
    initrd = cached_initramfs(busybox_path, cache, the_arch)
    full = qemu.full_cmdline(the_arch, cmdline)
    probe: dict[str, Any] = {}
    chosen: Literal["tcg", "kvm"] = "tcg"
    if accel == "kvm":
        chosen = "kvm"
    elif accel == "auto":
        probe = probe_kvm(
            qemu_binary=qemu_binary,
            arch=the_arch,
            kernel=source.image.path,
            kernel_sha256=source.sha256,
            initrd=initrd,
            machine=the_machine,
        )
        chosen = "kvm" if probe["usable"] else "tcg"
    return Lab(
        arch=the_arch,
        kernel=source,
        initrd=initrd,
        initrd_sha256=fetch.sha256_file(initrd),
        busybox=busybox_info,
        qemu=qemu_binary,
        qemu_version=qemu.qemu_version(qemu_binary),
        machine=the_machine,
        cmdline=full,
        accel=chosen,
        timeout_s=timeout_s,
        kvm_probe=probe,
    )


def boot_one(lab: Lab, spec: BootSpec, out_dir: Path, stop: threading.Event | None = None) -> BootRecord:
    """Run one boot of a lab; the log goes to ``out_dir/<label>.log``; none once ``stop`` is set."""
    cmdline = lab.cmdline if spec.cmdline is None else qemu.full_cmdline(lab.arch, spec.cmdline)
    argv = qemu.qemu_argv(
        qemu=lab.qemu,
        arch=lab.arch,
        kernel=lab.kernel.image.path,
        initrd=lab.initrd,
        memory_kib=spec.memory_kib,
        vcpu_count=spec.vcpu_count,
        machine=lab.machine,
        cmdline=cmdline,
        accel=lab.accel,
        node_count=spec.node_count,
    )
    log = out_dir / f"{spec.label}.log"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ram_sizes = qemu.ram_mapping_kib(spec.memory_kib, spec.node_count)
    run = qemu.run_qemu(argv, log, timeout_s=lab.timeout_s, stop=stop, ram_sizes_kib=ram_sizes)
    text = qemu.read_console(log)
    res = run.residency
    found_ram = res is not None and res.guest_ram_mappings == len(ram_sizes)
    return BootRecord(
        log=log.name,
        memory_kib=spec.memory_kib,
        vcpu_count=spec.vcpu_count,
        machine=lab.machine,
        arch=lab.arch,
        accel=lab.accel,
        cmdline=cmdline,
        qemu_argv=list(argv),
        boot_wall_s=run.boot_wall_s,
        outcome=qemu.classify(text, run),
        qemu_returncode=run.returncode,
        reached_init="Run /init as init process" in text,
        timeout_s=lab.timeout_s,
        started_utc=started,
        kernel=lab.kernel.to_json(),
        numa_node_count=spec.node_count,
        node_memory_kib=list(qemu.node_memory_kib(spec.memory_kib, spec.node_count)),
        guest_ram_resident_kib=res.guest_ram_resident_kib if res is not None and found_ram else None,
        qemu_rss_kib=res.rss_kib if res is not None else None,
        qemu_peak_rss_kib=res.peak_rss_kib if res is not None else None,
    )


def _lab_json(lab: Lab) -> dict[str, Any]:
    return {
        "arch": lab.arch,
        "kernel": lab.kernel.to_json(),
        "initramfs": {"path": str(lab.initrd), "sha256": lab.initrd_sha256, "busybox": lab.busybox},
        "qemu": {"binary": lab.qemu, "version": lab.qemu_version},
        "kvm_probe": lab.kvm_probe,
    }


class Manifest:
    """``manifest.json`` of an output directory: read once, rewritten atomically per boot."""

    def __init__(self, out_dir: Path, lab: Lab) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.lab = lab
        self.records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path.is_file():
            try:
                old = json.loads(self.path.read_text())
                boots = old["boots"]
                old_sha = old["kernel"]["sha256"]
            except (ValueError, KeyError, TypeError) as err:
                raise InputError(
                    f"expected a planner bootlab manifest; found unreadable JSON ({err})", file=self.path
                ) from None
            if old_sha != lab.kernel.sha256:
                raise InputError(
                    f"holds boots of another kernel (sha256 {old_sha[:12]}..., this one "
                    f"{lab.kernel.sha256[:12]}...); use another -o directory",
                    file=self.path,
                )
            self.records = {b["log"]: b for b in boots}

    def add(self, record: BootRecord) -> None:
        with self._lock:
            self.records[record.log] = asdict(record)
            self._write()

    def _write(self) -> None:
        boots = sorted(self.records.values(), key=lambda b: (b["memory_kib"], b["vcpu_count"], b["log"]))
        doc = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "generator": f"planner {__version__} bootlab",
            **_lab_json(self.lab),
            "outcomes": qemu.OUTCOMES,
            "boots": boots,
        }
        write_atomic(self.path, json.dumps(doc, indent=2) + "\n")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt in the main thread, so qemu gets killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_boots(
    lab: Lab,
    specs: Sequence[BootSpec],
    out_dir: Path,
    *,
    jobs: int | None = None,
    progress: Callable[[BootRecord], None] | None = None,
    manifest: Manifest | None = None,
) -> list[BootRecord]:
    """Run boots, ``jobs`` at a time (default: the number of cores), recording each.

    On KeyboardInterrupt/SIGTERM every running qemu is killed, pending boots are
    cancelled and the manifest keeps the boots that finished.
    """
    labels = [s.label for s in specs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise InputError(f"expected each size and vCPU count once; found {', '.join(dupes)} twice")
    for s in specs:
        if s.vcpu_count < 1:
            raise InputError(f"expected at least 1 vCPU; found {s.vcpu_count}", field="--vcpus")
    fetch.make_dir(out_dir, field="--output")
    manifest = manifest or Manifest(out_dir, lab)
    workers = max(1, jobs or os.cpu_count() or 1)
    records: list[BootRecord] = []
    stop = threading.Event()
    with _terminate_as_interrupt():
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bootlab")
        try:
            futures = [pool.submit(boot_one, lab, s, out_dir, stop) for s in specs]
            for fut in as_completed(futures):
                record = fut.result()
                manifest.add(record)
                records.append(record)
                if progress is not None:
                    progress(record)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            stop.set()  # a worker between its future and Popen starts no qemu
            qemu.kill_all()
            raise
        finally:
            pool.shutdown(wait=True)
    order = {label: i for i, label in enumerate(labels)}
    return sorted(records, key=lambda r: order[r.log.removesuffix(".log")])


def find_min(
    lab: Lab,
    out_dir: Path,
    *,
    low_kib: int,
    high_kib: int,
    step_kib: int = 2 * KIB_PER_MIB,
    vcpu_count: int = 1,
    jobs: int | None = None,
    progress: Callable[[BootRecord], None] | None = None,
) -> FindMinResult:
    """Smallest size in ``[low_kib, high_kib]`` (multiples of ``step_kib``) that reaches the dump.

    ``high_kib`` must boot. Each round boots ``jobs`` evenly spread sizes at once and keeps
    the interval between the largest failure and the smallest success (a k-ary bisection),
    so the answer assumes booting is monotone in RAM, which holds except at a marginal size
    (the reference saw s390x boot 5 times out of 8 at 44 MiB).
    """
    if step_kib <= 0 or step_kib % KIB_PER_MIB:
        raise InputError(f"expected a whole number of MiB; found {step_kib} KiB", field="--step")
    if not 0 < low_kib < high_kib:
        raise InputError(
            f"expected two sizes, the lower below the upper; found {low_kib} KiB and {high_kib} KiB",
            field="--memory",
        )
    fetch.make_dir(out_dir, field="--output")
    manifest = Manifest(out_dir, lab)
    workers = max(1, jobs or os.cpu_count() or 1)
    all_records: list[BootRecord] = []

    def boot(sizes: list[int]) -> dict[int, BootRecord]:
        recs = run_boots(
            lab,
            [BootSpec(k, vcpu_count) for k in sizes],
            out_dir,
            jobs=workers,
            progress=progress,
            manifest=manifest,
        )
        all_records.extend(recs)
        return {r.memory_kib: r for r in recs}

    first = boot(sorted({low_kib, high_kib}))
    if first[high_kib].outcome != "dump":
        raise InputError(
            f"expected the upper size {size_label_kib(high_kib)} to boot; it ended in "
            f"{first[high_kib].outcome} ({out_dir / first[high_kib].log})",
            field="--memory",
        )
    if first[low_kib].outcome == "dump":
        return FindMinResult(low_kib, None, None, all_records)
    fail_kib, ok_kib = low_kib, high_kib
    fail_outcome = first[low_kib].outcome
    while ok_kib - fail_kib > step_kib:
        n_steps = (ok_kib - fail_kib) // step_kib
        count = min(workers, n_steps - 1) if n_steps > 1 else 1
        points = sorted(
            {fail_kib + step_kib * max(1, round(n_steps * (i + 1) / (count + 1))) for i in range(count)}
        )
        points = [p for p in points if fail_kib < p < ok_kib]
        if not points:
            break
        got = boot(points)
        for p in points:
            if got[p].outcome == "dump":
                ok_kib = min(ok_kib, p)
        for p in points:
            if p < ok_kib and p > fail_kib and got[p].outcome != "dump":
                fail_kib, fail_outcome = p, got[p].outcome
    return FindMinResult(ok_kib, fail_kib, fail_outcome, all_records)


@dataclass(frozen=True)
class CampaignResult:
    """What :func:`run_campaign` did."""

    lab: Lab
    out_dir: Path
    records: list[BootRecord]
    manifest_path: Path
    find_min: FindMinResult | None = None

    @property
    def failed_to_run(self) -> list[BootRecord]:
        """Boots that say nothing about the kernel: killed by the timeout or qemu errors."""
        return [r for r in self.records if r.outcome in ("timeout", "qemu-error")]

    def to_json(self) -> dict[str, Any]:
        """The manifest path, accelerator, every boot and the find-min answer, for scripts."""
        fm = self.find_min
        return {
            "manifest": str(self.manifest_path),
            "accel": self.lab.accel,
            "kvm_probe": self.lab.kvm_probe,
            "boots": [asdict(r) for r in self.records],
            "find_min": None
            if fm is None
            else {
                "min_boot_kib": fm.min_boot_kib,
                "below_kib": fm.below_kib,
                "below_outcome": fm.below_outcome,
            },
        }

    def to_text(self) -> str:
        """One line per boot, then the find-min answer if any, the accelerator and the manifest."""
        lines = [
            f"{r.log:<24} {r.outcome:<15} {r.boot_wall_s:7.2f} s  rc={r.qemu_returncode}"
            for r in self.records
        ]
        if self.find_min is not None:
            fm = self.find_min
            below = (
                f"; {size_label_kib(fm.below_kib)} ended in {fm.below_outcome}"
                if fm.below_kib is not None
                else "; the lower bound booted too"
            )
            lines.append(f"smallest size that boots to /init: {size_label_kib(fm.min_boot_kib)}{below}")
        probe = self.lab.kvm_probe
        lines.append(f"accelerator: {self.lab.accel}" + (f" ({probe['reason']})" if probe else ""))
        lines.append(f"manifest: {self.manifest_path}")
        return "\n".join(lines)


def run_campaign(
    kernel: str,
    out_dir: Path,
    *,
    memory_kib: Sequence[int],
    vcpu_counts: Sequence[int] = (1,),
    node_counts: Sequence[int] = (1,),
    arch: str | None = None,
    machine: str | None = None,
    cmdline: str = qemu.DEFAULT_CMDLINE,
    tag: str = "",
    accel: Accel = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    jobs: int | None = None,
    find_min_step_kib: int | None = None,
    busybox: Path | None = None,
    allow_system_changes: bool = False,
    progress: Callable[[BootRecord], None] | None = None,
) -> CampaignResult:
    """``planner bootlab``: prepare the lab, then boot every (size, vCPUs) or bisect for the minimum.

    With ``find_min_step_kib`` the smallest and largest of ``memory_kib`` bound the search
    (see :func:`find_min`) at the first of ``vcpu_counts``; otherwise every size is booted
    at every vCPU count. Parameters are those of :func:`prepare_lab` and :func:`run_boots`.
    """
    if not memory_kib:
        raise InputError("expected at least one size", field="--memory")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("expected a directory for the logs; found a file", file=out_dir, field="--output")
    if tag and not all(c.isalnum() or c in "-_." for c in tag):
        raise InputError(f"expected letters, digits, '-', '_' or '.'; found {tag!r}", field="--tag")
    for m in memory_kib:
        if m % KIB_PER_MIB:
            raise InputError(f"expected whole MiB; found {size_label_kib(m)}", field="--memory")
        for k in node_counts:
            qemu.node_memory_kib(m, k)  # refuses nodes of less than 64 MiB
    if find_min_step_kib is not None and len(memory_kib) < 2:
        raise InputError("expected two sizes bounding the search, e.g. 16MiB,512MiB", field="--memory")
    if jobs is not None and jobs < 1:
        raise InputError(f"expected at least 1; found {jobs}", field="--jobs")
    # from the first qemu on (the KVM probe boot in prepare_lab), SIGTERM/SIGHUP kill it
    with _terminate_as_interrupt():
        lab = prepare_lab(
            kernel,
            arch=arch,
            machine=machine,
            cmdline=cmdline,
            accel=accel,
            timeout_s=timeout_s,
            busybox=busybox,
            allow_system_changes=allow_system_changes,
        )
        fetch.make_dir(out_dir, field="--output")
        if find_min_step_kib is not None:
            fm = find_min(
                lab,
                out_dir,
                low_kib=min(memory_kib),
                high_kib=max(memory_kib),
                step_kib=find_min_step_kib,
                vcpu_count=vcpu_counts[0],
                jobs=jobs,
                progress=progress,
            )
            return CampaignResult(lab, out_dir, fm.records, out_dir / MANIFEST_NAME, fm)
        specs = [
            BootSpec(m, n, tag, node_count=k) for k in node_counts for n in vcpu_counts for m in memory_kib
        ]
        records = run_boots(lab, specs, out_dir, jobs=jobs, progress=progress)
        return CampaignResult(lab, out_dir, records, out_dir / MANIFEST_NAME)

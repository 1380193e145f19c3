"""Boots of a lab, ``jobs`` at a time, each recorded in the output directory's manifest.

Each boot writes one console log ``<size>-<n>cpu[-tag].log`` into the output directory, and
``manifest.json`` there lists every boot with the exact qemu command, wall time and outcome
(:data:`planner.bootlab.qemu.OUTCOMES`). The manifest is rewritten atomically after every
boot, so it always matches the logs beside it and is never half-written; boots of another
kernel are refused rather than mixed in. SIGTERM/SIGHUP kill every running qemu.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from planner import __version__
from planner.bootlab import fetch, qemu
from planner.bootlab.lab import Lab
from planner.errors import InputError
from planner.evidence.manifest import MANIFEST_NAME
from planner.files import write_atomic
from planner.units import size_label_kib

MANIFEST_SCHEMA_VERSION = 1


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
def terminate_as_interrupt() -> Iterator[None]:
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
    with terminate_as_interrupt():
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

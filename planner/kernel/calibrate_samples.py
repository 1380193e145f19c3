"""The boots a calibration is fitted to, checked, and the calibration being fitted.

:func:`samples_of` turns parsed boots (:mod:`planner.evidence`) into :class:`Sample` s: the
configured RAM, vCPUs, possible CPUs (``setup_percpu: ... nr_cpu_ids:N``), command line and
NUMA nodes of each boot as a :class:`~planner.kernel.spec.GuestSpec`, with its ``Memory:`` line's
``reserved`` figure, the sum of its ``Freeing ... memory`` lines, /proc/meminfo and the pages on
per-CPU lists (/proc/zoneinfo). :func:`check_logs` refuses logs of several builds or
architectures, or too few boots. :class:`Fit` is the draft the stages of
:mod:`planner.kernel.calibrate` fill in, with how each parameter was found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from planner.errors import CalibrationError, EvidenceError
from planner.evidence.dmesg import require_memory_line
from planner.evidence.records import Evidence
from planner.kernel.calibration import Calibration, KernelParameters
from planner.kernel.spec import GuestSpec

#: defaults by architecture, from the Debian 6.1 configs
#: (reference bootlab-debian-6.1.md, kernel-memory-facts.md §4)
ARCH_DEFAULTS: dict[str, dict[str, object]] = {
    "x86_64": {
        "swiotlb_available": True,
        "crashkernel_available": True,
        "dma_pool_count": 3,
        "pageblock_kib": 2048,
    },
    # CONFIG_CRASH_DUMP is not set in Debian s390x 6.1; no swiotlb outside Secure Execution
    "s390x": {
        "cma_available": True,
        "swiotlb_available": False,
        "crashkernel_available": False,
        # no 'DMA: preallocated ... pool for atomic allocations' line in any s390x boot
        "dma_pool_count": 0,
        "pageblock_kib": 1024,
    },
}
MIN_RUNTIME_LOGS = 3
MIN_SIZES = 2


@dataclass(frozen=True)
class Sample:
    evidence: Evidence
    spec: GuestSpec
    reserved_kib: int
    freed_total_kib: int
    meminfo: dict[str, int] | None
    pcp_kib: int | None


def _build_key(ev: Evidence) -> tuple[object, ...]:
    assert ev.dmesg is not None and ev.dmesg.memory is not None
    m = ev.dmesg.memory
    return (
        ev.dmesg.release,
        m.kernel_code_kib,
        m.rwdata_kib,
        m.rodata_kib,
        m.init_kib,
        m.bss_kib,
        m.data_kib,
    )


def _vcpus(ev: Evidence) -> int:
    if ev.vcpu_count:
        return ev.vcpu_count
    return 1


def _possible(ev: Evidence) -> int | None:
    return ev.dmesg.nr_cpu_ids if ev.dmesg is not None else None


def samples_of(evidences: Sequence[Evidence]) -> list[Sample]:
    out = []
    for ev in evidences:
        if ev.dmesg is None:
            raise CalibrationError("expected a kernel log (dmesg); found none", file=ev.source)
        if ev.dmesg.memory is None:
            try:
                require_memory_line(ev.dmesg, ev.source)
            except EvidenceError as err:
                raise CalibrationError(err.message, file=ev.source, field="Memory") from None
        memory_line = ev.dmesg.memory
        assert memory_line is not None
        if ev.memory_kib is None:
            raise CalibrationError(
                "expected the configured RAM of this boot (a bootlab manifest.json beside it, or a log that "
                "shows it); found none",
                file=ev.source,
            )
        cmdline = ev.dmesg.command_line or ev.cmdline or ""
        vcpus = _vcpus(ev)
        possible = _possible(ev)
        spec = GuestSpec(
            memory_kib=ev.memory_kib,
            vcpu_count=vcpus,
            possible_cpu_count=possible if possible and possible != vcpus else None,
            cmdline=cmdline,
            machine=ev.machine,
            node_count=ev.dmesg.node_count,
        )
        meminfo = dict(ev.meminfo.fields_kib) if ev.meminfo is not None and "MemTotal" in ev.meminfo else None
        pcp = ev.zoneinfo.pcp_kib if ev.zoneinfo is not None and ev.zoneinfo.zones else None
        freed_kib = sum(f.size_kib for f in ev.dmesg.freed)
        out.append(Sample(ev, spec, memory_line.reserved_kib, freed_kib, meminfo, pcp))
    return out


@dataclass
class Fit:
    """A calibration being made: the parameters so far and where each came from.

    Mutable while the stages below fill it in; :func:`calibrate` returns the frozen
    :class:`Calibration` made from it.
    """

    draft: Calibration
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> KernelParameters:
        return self.draft.parameters

    def set(self, how: str, **values: object) -> None:
        """Set parameters and record how they were obtained."""
        params = dataclasses.replace(self.params, **values)  # type: ignore[arg-type]
        self.draft = dataclasses.replace(self.draft, parameters=params)
        for key in values:
            self.sources[key] = how


def check_logs(samples: list[Sample], partial: bool) -> tuple[str, bool, list[Sample]]:
    """One build, one known architecture, enough boots. Returns (arch, 2.6-era, boots with meminfo)."""
    first = samples[0].evidence
    first_dmesg = first.dmesg
    assert first_dmesg is not None and first_dmesg.memory is not None  # samples_of() checked every log
    arch = first_dmesg.arch
    for s in samples:
        ev = s.evidence
        if _build_key(ev) != _build_key(first):
            raise CalibrationError(
                f"expected logs of one kernel build; {ev.source} is "
                f"{ev.dmesg.release if ev.dmesg else '?'} and {first.source} is {first_dmesg.release} "
                "(release or image sizes differ)",
                file=ev.source,
            )
        ev_arch = ev.dmesg.arch if ev.dmesg else None
        if ev_arch != arch:
            raise CalibrationError(
                f"expected logs of one architecture ({arch}); found {ev_arch}", file=ev.source
            )
    if arch not in ARCH_DEFAULTS:
        raise CalibrationError(
            f"expected an x86_64 or s390x kernel; found architecture {arch!r}", file=first.source
        )
    runtime = [s for s in samples if s.meminfo is not None]
    sizes = {s.spec.memory_kib for s in samples}
    if not partial and (len(sizes) < MIN_SIZES or len(runtime) < MIN_RUNTIME_LOGS):
        raise CalibrationError(
            f"expected at least {MIN_RUNTIME_LOGS} boots with /proc/meminfo at {MIN_SIZES} or more sizes; "
            f"found {len(runtime)} with meminfo at {len(sizes)} size(s) "
            "(boot more sizes with planner bootlab)"
        )
    if not runtime:
        raise CalibrationError("expected at least one boot with /proc/meminfo; found none", file=first.source)
    return arch, first_dmesg.memory.format == "2.6", runtime


def freed_kib(s: Sample, kind: str) -> int:
    """A boot's ``Freeing ... memory`` lines of one kind: ``initrd``, ``smp`` or ``init`` (the rest)."""
    assert s.evidence.dmesg is not None
    total = 0
    for f in s.evidence.dmesg.freed:
        what = f.what.lower()
        is_initrd = "initrd" in what
        is_smp = "smp alternatives" in what
        if (
            (kind == "initrd" and is_initrd)
            or (kind == "smp" and is_smp)
            or (kind == "init" and not is_initrd and not is_smp)
        ):
            total += f.size_kib
    return total


def meminfo_field(s: Sample, key: str) -> float:
    assert s.meminfo is not None
    return float(s.meminfo.get(key, 0))


def user_kib(s: Sample) -> float:
    """User space and page cache: anonymous pages, buffers, file cache (not shmem)."""
    return (
        meminfo_field(s, "AnonPages")
        + meminfo_field(s, "Buffers")
        + meminfo_field(s, "Cached")
        - meminfo_field(s, "Shmem")
    )

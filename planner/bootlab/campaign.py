"""``planner bootlab``: prepare a lab, then boot it at many sizes or bisect for the smallest.

A *lab* is what stays fixed over a campaign (kernel, initramfs, qemu, machine, command
line, accelerator: :mod:`planner.bootlab.lab`); a *boot* is one (memory, vCPUs, NUMA nodes)
point (:mod:`planner.bootlab.boots`, which also keeps the manifest); ``--find-min`` bisects
(:mod:`planner.bootlab.find_min`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from planner.bootlab import fetch, qemu
from planner.bootlab.boots import BootRecord, BootSpec, run_boots, terminate_as_interrupt
from planner.bootlab.find_min import FindMinResult, find_min
from planner.bootlab.lab import DEFAULT_TIMEOUT_S, Accel, Lab, prepare_lab
from planner.errors import InputError
from planner.evidence.manifest import MANIFEST_NAME
from planner.units import KIB_PER_MIB, size_label_kib


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
    (see :func:`planner.bootlab.find_min.find_min`) at the first of ``vcpu_counts``; otherwise
    every size is booted at every vCPU count. Parameters are those of
    :func:`planner.bootlab.lab.prepare_lab` and :func:`planner.bootlab.boots.run_boots`.
    """
    _check_campaign(out_dir, memory_kib, node_counts, tag, find_min_step_kib, jobs)
    # from the first qemu on (the KVM probe boot in prepare_lab), SIGTERM/SIGHUP kill it
    with terminate_as_interrupt():
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


def _check_campaign(
    out_dir: Path,
    memory_kib: Sequence[int],
    node_counts: Sequence[int],
    tag: str,
    find_min_step_kib: int | None,
    jobs: int | None,
) -> None:
    """Refuse a campaign that cannot run, before the lab is prepared (no qemu, no download)."""
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

"""``planner tune --verify``: boot a guest's kernel with and without each tuning change.

:func:`verification_variants` lists the command lines to boot for a
:class:`~planner.kernel.tuning_results.TuneResult` (the guest's own line, each candidate
change alone, and the merged recommendation); :func:`verify_tuning` boots them all in one
campaign (:func:`planner.bootlab.boots.run_boots`, ``jobs`` at a time, one manifest) and
compares every boot with the baseline (:func:`planner.kernel.tuning_check.check_change`).

qemu's ``-smp N`` makes N CPUs possible; a guest with more possible CPUs than vCPUs
(``maxcpus``) is booted with ``possible_cpus=M`` on every command line, which sizes the
per-CPU data the same way (``arch/x86/kernel/smpboot.c prefill_possible_map()``,
``arch/s390/kernel/smp.c``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.bootlab.boots import BootRecord, BootSpec, run_boots
from planner.bootlab.lab import DEFAULT_TIMEOUT_S, Accel, prepare_lab
from planner.errors import EvidenceError, InputError
from planner.evidence.bundle import load_evidence
from planner.evidence.records import Evidence
from planner.kernel.calibration import Calibration
from planner.kernel.model import GuestSpec
from planner.kernel.tuning_check import DEFAULT_TOLERANCE_KIB, ChangeCheck, check_change
from planner.kernel.tuning_results import Change, TuneResult, apply_changes
from planner.units import KIB_PER_MIB

#: Debian flavour (the end of a kernel release such as 6.1.0-56-cloud-amd64) -> package to boot
DEBIAN_KERNEL_PACKAGES = {
    "cloud-amd64": "linux-image-cloud-amd64",
    "amd64": "linux-image-amd64",
    "s390x": "linux-image-s390x:s390x",
}
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Variant:
    """One command line to boot."""

    tag: str  # log name suffix: 128MiB-1cpu-<tag>.log
    label: str  # "baseline", a change ("dhash_entries=1024"), or "recommended"
    cmdline: str


@dataclass(frozen=True)
class TuneVerification:
    """Every boot of a verification and each variant compared with the baseline."""

    out_dir: Path
    accel: str
    records: tuple[BootRecord, ...]
    checks: tuple[tuple[str, ChangeCheck], ...]  # (variant label, check)
    failed: tuple[tuple[str, str], ...]  # (variant label, why it could not be compared)

    @property
    def agrees(self) -> bool:
        return not self.failed and all(check.agrees for _, check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "accel": self.accel,
            "agrees": self.agrees,
            "boots": [
                {"log": r.log, "outcome": r.outcome, "boot_wall_s": r.boot_wall_s} for r in self.records
            ],
            "checks": [{"variant": label} | check.to_json() for label, check in self.checks],
            "failed": [{"variant": label, "reason": why} for label, why in self.failed],
        }


def kernel_package(calibration: Calibration) -> str:
    """The Debian package whose kernel a calibration describes (its current version is booted)."""
    for flavour, package in sorted(DEBIAN_KERNEL_PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if calibration.kernel_release.endswith(f"-{flavour}"):
            return package
    raise InputError(
        f"expected a Debian kernel release ending in {', '.join(DEBIAN_KERNEL_PACKAGES)}; found "
        f"{calibration.kernel_release!r} (give the kernel to boot explicitly)",
        field="kernel",
    )


def _tag(index: int, label: str) -> str:
    return f"tune{index:02d}-{_TAG_UNSAFE.sub('_', label)}"[:60]


def verification_variants(
    result: TuneResult, spec: GuestSpec, changes: Sequence[Change] | None = None, *, recommended: bool = True
) -> list[Variant]:
    """The baseline, each change alone (default: every candidate) and the recommendation."""
    if result.target != "guest":
        raise InputError(
            "expected a guest's tuning result; a host kernel cannot be booted here", field="target"
        )
    base = result.baseline.cmdline
    possible = spec.possible_cpu_count or spec.vcpu_count
    if possible > spec.vcpu_count and "possible_cpus=" not in base:
        base = f"{base} possible_cpus={possible}".strip()
    chosen = list(changes) if changes is not None else [c.change for c in result.candidates]
    variants = [Variant("tune00-baseline", "baseline", base)]
    for i, change in enumerate(chosen, start=1):
        variants.append(Variant(_tag(i, change.label), change.label, apply_changes(base, [change])))
    if recommended and result.recommendation.changes:
        variants.append(
            Variant("tune99-recommended", "recommended", apply_changes(base, result.recommendation.changes))
        )
    return variants


def _load(out_dir: Path, record: BootRecord) -> Evidence:
    if record.outcome != "dump":
        raise EvidenceError(f"the boot ended in {record.outcome}, not the dump", file=out_dir / record.log)
    return load_evidence(out_dir / record.log)


def verify_tuning(
    result: TuneResult,
    spec: GuestSpec,
    calibration: Calibration,
    out_dir: Path,
    *,
    kernel: str | None = None,
    changes: Sequence[Change] | None = None,
    recommended: bool = True,
    jobs: int | None = None,
    accel: Accel = "auto",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    busybox: Path | None = None,
    tolerance_kib: int = DEFAULT_TOLERANCE_KIB,
    progress: Callable[[BootRecord], None] | None = None,
) -> TuneVerification:
    """Boot every variant (``jobs`` at a time) and compare each with the baseline boot.

    ``kernel`` defaults to the calibration's Debian package (:func:`kernel_package`).
    Logs and ``manifest.json`` go to ``out_dir`` (a directory of one kernel's boots).
    """
    if spec.memory_kib % KIB_PER_MIB:
        raise InputError(f"expected whole MiB to boot; found {spec.memory_kib} KiB", field="memory")
    machine = spec.machine or calibration.machine
    if machine in ("zvm", "host"):
        raise InputError(f"expected a qemu machine to boot; found {machine!r}", field="machine")
    variants = verification_variants(result, spec, changes, recommended=recommended)
    lab = prepare_lab(
        kernel or kernel_package(calibration),
        arch=calibration.arch,
        machine=machine,
        cmdline=variants[0].cmdline,
        accel=accel,
        timeout_s=timeout_s,
        busybox=busybox,
    )
    boots = [BootSpec(spec.memory_kib, spec.vcpu_count, v.tag, cmdline=v.cmdline) for v in variants]
    records = run_boots(lab, boots, out_dir, jobs=jobs, progress=progress)
    checks: list[tuple[str, ChangeCheck]] = []
    failed: list[tuple[str, str]] = []
    try:
        baseline = _load(out_dir, records[0])
    except EvidenceError as err:
        failed = [(v.label, f"baseline boot unusable: {err}") for v in variants[1:]]
        return TuneVerification(out_dir, lab.accel, tuple(records), (), tuple(failed))
    for variant, record in zip(variants[1:], records[1:], strict=True):
        try:
            check = check_change(calibration, baseline, _load(out_dir, record), tolerance_kib=tolerance_kib)
        except EvidenceError as err:
            failed.append((variant.label, str(err)))
            continue
        checks.append((variant.label, check))
    return TuneVerification(out_dir, lab.accel, tuple(records), tuple(checks), tuple(failed))

"""``planner tune --verify``: boot each tuned guest's kernel with and without every change
(:func:`planner.bootlab.tune.verify_tuning`: the baseline, each candidate alone and the
recommendation, ``jobs`` boots at a time) and put measured against predicted into the result.

A guest qemu cannot boot (a z/VM guest, a kernel that is not a Debian package) is left out with
a note; a host kernel is never booted (bootlab boots guests). Logs go to ``out_dir`` (a new
temporary directory when not given, kept and named in the output), one subdirectory per guest
entry of a host file.
"""

from __future__ import annotations

import dataclasses
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import InputError
from planner.report.render import slug
from planner.results.tune import BootRow, GuestVerification, KernelTuning, TuneReport
from planner.units import KIB_PER_MIB

if TYPE_CHECKING:  # the boot lab is imported when something boots (planner tune starts fast)
    from planner.bootlab.boots import BootRecord
    from planner.bootlab.lab import Accel

#: what --accel takes (as bootlab)
ACCELS = ("auto", "tcg", "kvm")
#: machines qemu does not emulate (calibrations of z/VM guests and of host kernels)
UNBOOTABLE_MACHINES = ("zvm", "host")


def check_options(verify: bool, *, output: Path | None, jobs: int | None, accel: str) -> None:
    """Refuse ``-o``, ``--jobs`` and ``--accel`` without ``--verify``, and an unknown ``--accel``,
    before any work."""
    given = [
        name for name, value in (("-o", output), ("--jobs", jobs), ("--accel", accel != "auto")) if value
    ]
    if not verify and given:
        raise InputError("expected only with --verify; found it without", field=given[0])
    if accel not in ACCELS:
        raise InputError(f"expected one of {', '.join(ACCELS)}; found {accel!r}", field="--accel")


def _why_not_bootable(k: KernelTuning) -> str | None:
    """Why qemu cannot boot this kernel as the model predicted it, or None."""
    spec = k.spec
    if spec is None:
        return "a host kernel is not booted (bootlab boots guests)"
    machine = spec.machine or k.calibration.machine
    if machine in UNBOOTABLE_MACHINES:
        return f"machine {machine!r} is not one qemu emulates"
    if spec.memory_kib % KIB_PER_MIB:
        return f"{spec.memory_kib} KiB is not whole MiB"
    if not k.tuning.candidates:
        return "no candidate to verify"
    from planner.bootlab.tune import kernel_package

    try:
        kernel_package(k.calibration)
    except InputError as err:
        return err.message
    return None


def bootable(result: TuneReport) -> tuple[list[KernelTuning], list[str]]:
    """The kernels ``--verify`` boots, and a note for each it leaves out."""
    boot, notes = [], []
    for k in result.kernels:
        why = _why_not_bootable(k)
        if why is None:
            boot.append(k)
        else:
            notes.append(f"--verify: {k.name} not booted: {why}")
    return boot, notes


def boot_count(result: TuneReport) -> int:
    """Boots ``--verify`` runs (for a progress bar)."""
    from planner.bootlab.tune import verification_variants

    return sum(len(verification_variants(k.tuning, k.spec)) for k in bootable(result)[0] if k.spec)


def verify(
    result: TuneReport,
    out_dir: Path | None = None,
    *,
    jobs: int | None = None,
    accel: str = "auto",
    progress: Callable[[BootRecord], None] | None = None,
) -> TuneReport:
    """``result`` with every bootable guest's changes booted and compared.

    Raises
    ------
    InputError
        No kernel of the result can be booted (the reasons named).
    """
    from planner.bootlab.tune import verify_tuning

    check_options(True, output=out_dir, jobs=jobs, accel=accel)
    kernels, notes = bootable(result)
    if not kernels:
        raise InputError(
            "expected a guest kernel qemu can boot; found none (" + "; ".join(notes) + ")", field="--verify"
        )
    root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="planner-tune-"))
    done = []
    for k in kernels:
        assert k.spec is not None
        where = root if result.target_kind == "guest profile" else root / slug(k.name)
        mode = typing.cast("Accel", accel)  # checked above
        v = verify_tuning(k.tuning, k.spec, k.calibration, where, jobs=jobs, accel=mode, progress=progress)
        boots = tuple(BootRow(r.log, r.outcome, r.boot_wall_s) for r in v.records)
        done.append(GuestVerification(k.name, str(v.out_dir), v.accel, boots, v.checks, v.failed))
    return dataclasses.replace(
        result, verification=tuple(done), notes=tuple(dict.fromkeys([*result.notes, *notes]))
    )

"""``planner calibrate`` and ``planner predict``: the kernel model, fitted and applied.

``calibrate_logs``: boot logs (:mod:`planner.evidence`) -> fitted constants
(:func:`planner.kernel.calibrate.calibrate`) -> a calibration file
(:mod:`planner.inputs.calibrations`). ``predict_guest``: a calibration -> where every KiB of
one guest goes (:func:`planner.kernel.model.predict`), and the same guest across sizes for
the report.
"""

from __future__ import annotations

from pathlib import Path

from planner.capacity.sizing import GuestKernel, kernel_sweep, sweep_sizes_kib
from planner.evidence.logset import load_logs
from planner.inputs.calibrations import load_calibration, save_calibration
from planner.kernel.calibrate import calibrate
from planner.kernel.model import GuestSpec, predict
from planner.results import CalibrateResult, PredictResult
from planner.results.common import input_files


def calibrate_logs(
    paths: list[str] | list[Path],
    *,
    name: str,
    output: str | Path | None = None,
    description: str = "",
    partial: bool = False,
) -> CalibrateResult:
    """Load logs (files, evidence directories or bootlab output directories), calibrate, write YAML."""
    logs = load_logs([Path(p) for p in paths])
    calibration = calibrate(logs.evidences, name=name, description=description, partial=partial)
    out = Path(output) if output else None
    if out is not None:
        save_calibration(calibration, out)
    return CalibrateResult(calibration, out, logs.skipped)


def predict_guest(
    kernel: str,
    memory_kib: int,
    *,
    vcpu_count: int = 1,
    possible_cpu_count: int | None = None,
    cmdline: str = "",
    machine: str | None = None,
    strict: bool = False,
) -> PredictResult:
    """Predict one guest's memory with a shipped or given calibration; with the same guest at
    sizes across the calibrated range (and its own), for the report."""
    calibration = load_calibration(kernel)
    spec = GuestSpec(memory_kib, vcpu_count, possible_cpu_count, cmdline, machine)
    prediction = predict(calibration, spec, out_of_range="raise" if strict else "warn")
    p = prediction
    rng = calibration.calibrated_range
    low, high = min(rng.min_memory_kib, p.memory_kib), max(rng.max_memory_kib, p.memory_kib)
    guest = GuestKernel(calibration, p.spec.vcpu_count, p.spec.cmdline, p.spec.machine)
    sweep = kernel_sweep(guest, sweep_sizes_kib(low, high, p.memory_kib))
    files = input_files([(f"kernel calibration {calibration.name}", calibration.path)])
    return PredictResult(prediction, calibration, tuple(sweep), files)

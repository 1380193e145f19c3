"""``planner calibrate`` and ``planner predict``: the kernel model, fitted and applied.

``calibrate_logs``: boot logs (:mod:`planner.evidence`) -> fitted constants
(:func:`planner.kernel.calibrate.calibrate`) -> a calibration file
(:mod:`planner.inputs.calibrations`). ``predict_guest``: a calibration -> where every KiB of
one guest goes (:func:`planner.kernel.model.predict`), and the same guest across sizes for
the report.
"""

from __future__ import annotations

import re
from pathlib import Path

from planner.capacity.sizing import GuestKernel, kernel_sweep, sweep_sizes_kib
from planner.errors import InputError
from planner.evidence.logset import load_logs
from planner.files import check_output_file
from planner.inputs.calibrations import load_calibration, save_calibration
from planner.kernel.calibrate import calibrate
from planner.kernel.model import GuestSpec, predict
from planner.results import CalibrateResult, PredictResult
from planner.results.common import input_files
from planner.units import MAX_CPU_COUNT


def calibrate_logs(
    paths: list[str] | list[Path],
    *,
    name: str,
    output: str | Path | None = None,
    description: str = "",
    partial: bool = False,
) -> CalibrateResult:
    """Load logs (files, evidence directories or bootlab output directories), calibrate, write YAML.

    ``output`` follows the output rule (:mod:`planner.files`): checked before the logs are
    read, against every file read once they are, and again when written.

    Raises
    ------
    InputError
        A bad ``name`` or ``output``, a log given twice, a log that cannot be read.
    CalibrationError
        Logs that cannot be calibrated together.
    """
    _check_name(name)
    out = Path(output) if output else None
    if out is not None:
        check_output_file(out, option="--output", what="the calibration")
    logs = load_logs([Path(p) for p in paths])
    read = logs.files
    if out is not None:
        check_output_file(out, option="--output", what="the calibration", inputs=read)
    calibration = calibrate(logs.evidences, name=name, description=description, partial=partial)
    if out is not None:
        save_calibration(calibration, out, inputs=read)
    return CalibrateResult(calibration, out, logs.skipped, input_files(read))


#: a calibration name: what ``host.kernel`` names it by (and ``planner bootlab --calibrate``
#: its file by)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InputError(
            "expected a name of up to 100 letters, digits, . _ - (such as debian12-cloud-amd64); "
            f"found {name!r}",
            field="--name",
        )


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
    for field, count in (("--vcpus", vcpu_count), ("--possible-cpus", possible_cpu_count)):
        if count is not None and count > MAX_CPU_COUNT:  # judged before the memory is
            raise InputError(
                f"expected at most {MAX_CPU_COUNT} (the largest NR_CPUS, x86 MAXSMP); found {count}",
                field=field,
            )
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

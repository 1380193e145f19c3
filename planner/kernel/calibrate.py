"""Calibrate the kernel memory model from real boot evidence.

``calibrate(evidences, name=...) -> Calibration`` is pure and deterministic.
Only constants of a kernel build are fitted, with ``scipy.optimize.least_squares``;
everything sized from RAM, CPUs or the command line is derived by
:mod:`planner.kernel.model` from the same code that predicts.

The stages, each in its module (reference kernel-memory-facts.md §8): the boots, checked
(:mod:`planner.kernel.calibrate_samples`); structural constants straight from dmesg
(``percpu: Embedded N pages/cpu``, the ``Freeing ...`` lines, the THP mode:
:mod:`planner.kernel.calibrate_structural`); the dmesg ``reserved`` figure, fitted with
the image reservation and a direct-map slope; MemTotal (an offset); the idle
runtime from /proc/meminfo (Slab, SReclaimable, KernelStack, VmallocUsed) and
/proc/zoneinfo (pages on per-CPU lists), each a constant plus a per-vCPU slope
(:mod:`planner.kernel.calibrate_fit`). Here: the stages in order, the calibrated range and
each log's residuals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from planner.errors import CalibrationError, InfeasibleError
from planner.evidence.records import Evidence
from planner.kernel.calibrate_fit import fit_footprint, fit_memtotal_offset, fit_reserved, fit_runtime
from planner.kernel.calibrate_samples import MIN_SIZES, Fit, Sample, check_logs, samples_of
from planner.kernel.calibrate_structural import structural
from planner.kernel.calibration import (
    CalibratedRange,
    Calibration,
    KernelParameters,
    LogRecord,
)
from planner.kernel.model import predict
from planner.kernel.reserved import reserved_terms
from planner.units import format_kib


def _log_record(s: Sample, result: Calibration) -> LogRecord:
    """One log's measured values beside the model's, for the residuals."""
    measured = {"reserved_kib": s.reserved_kib}
    try:
        p = predict(result, s.spec, out_of_range="ignore")
        modelled = {
            "reserved_kib": p.reserved_kib,
            "mem_total_kib": p.mem_total_kib,
            "mem_free_kib": p.mem_free_kib,
            "mem_available_kib": p.mem_available_kib,
        }
    except InfeasibleError:  # a boot the model says leaves nothing (an OOM panic): keep its reserved residual
        modelled = {"reserved_kib": round(reserved_terms(result, s.spec).reserved_kib)}
    if s.meminfo is not None:
        for key, field_name in (
            ("mem_total_kib", "MemTotal"),
            ("mem_free_kib", "MemFree"),
            ("mem_available_kib", "MemAvailable"),
        ):
            if field_name in s.meminfo:
                measured[key] = s.meminfo[field_name]
    return LogRecord(
        source=s.evidence.source,
        sha256=s.evidence.sha256,
        memory_kib=s.spec.memory_kib,
        vcpu_count=s.spec.vcpu_count,
        cmdline=s.spec.cmdline,
        measured=measured,
        modelled={k: v for k, v in modelled.items() if k in measured},
    )


def calibrate(
    evidences: Sequence[Evidence],
    *,
    name: str,
    description: str = "",
    partial: bool = False,
) -> Calibration:
    """Fit a :class:`Calibration` to the evidence of one kernel build.

    Parameters
    ----------
    evidences
        Parsed boots (``planner.evidence.bundle.load_evidence``); each needs a
        ``Memory:`` line and its configured RAM. Logs with /proc/meminfo feed the
        runtime terms; failed boots (OOM panics) still feed the ``reserved`` fit.
    name
        The calibration's name (``debian12-cloud-amd64``).
    description
        One line for listings (default: derived from the logs).
    partial
        Allow a single boot size: the RAM-dependent constants fall back to 0 and the
        calibration says it is partial.

    Raises
    ------
    CalibrationError
        Logs of different kernel builds or architectures, or too few to fit.
    """
    if not evidences:
        raise CalibrationError("expected at least one log; found none")
    samples = samples_of(evidences)
    arch, era_2_6, runtime = check_logs(samples, partial)
    first = samples[0].evidence
    assert first.dmesg is not None
    release = first.dmesg.release or ""
    fit = Fit(
        Calibration(
            name, release, arch, KernelParameters(), CalibratedRange(0, 2**62, 1, 1024), machine=first.machine
        )
    )
    structural(fit, samples, runtime, era_2_6)
    fit_reserved(fit, samples)
    fit_memtotal_offset(fit, runtime)
    fit_runtime(fit, runtime)
    fit_footprint(fit, samples)
    cal_range = CalibratedRange(
        min_memory_kib=min(s.spec.memory_kib for s in runtime),
        max_memory_kib=max(s.spec.memory_kib for s in runtime),
        min_vcpu_count=min(s.spec.vcpu_count for s in runtime),
        max_vcpu_count=max(s.spec.vcpu_count for s in runtime),
    )
    result = dataclasses.replace(
        fit.draft,
        calibrated_range=cal_range,
        linux_version=first.dmesg.linux_version or "",
        description=description
        or f"{release or 'unknown release'} ({arch}) calibrated on {len(samples)} boots, "
        f"{format_kib(cal_range.min_memory_kib)}..{format_kib(cal_range.max_memory_kib)}",
        partial=partial and len({s.spec.memory_kib for s in samples}) < MIN_SIZES,
        min_boot_memory_kib=cal_range.min_memory_kib,
        parameter_sources=dict(fit.sources),
    )
    return dataclasses.replace(result, logs=tuple(_log_record(s, result) for s in samples))

"""The KVM/qemu overhead model fitted to qemu processes measured on a live host.

``planner calibrate-host`` measures each running domain's qemu process (process RSS minus
resident guest RAM, plus its page tables: :class:`planner.live.ProcessMemory`, as
``reference/libvirt-recipes.md`` §3 measured it, less its file pages, which the host holds
once: ``shared_file_kib``, the largest ``RssFile`` of the domains) and fits the terms of
:func:`planner.hypervisors.kvm_qemu.host_overhead_kib` that describe that process::

    measured = process_kib + per_extra_vcpu_kib * (vCPUs - 1) + guest RAM / page_table_ram_divisor

(``per_guest_daemon_kib`` and ``daemon_kib`` are libvirtd's, outside the qemu process, and are
always kept from the base profile). Least squares (``numpy.linalg.lstsq``) over the terms the
domains determine: the fixed term always; the per-vCPU term when the domains differ in vCPUs;
the per-MiB term when they differ in size in a way the other terms do not explain (column rank,
vCPU term first). A term the domains do not determine, or that fits at zero or below (the
reference found the overhead flat in guest size: 94.2 MiB from 72 to 512 MiB), keeps the base
profile's value, and the fit says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from planner.hypervisors.kvm_qemu import KvmQemuParams, host_overhead_kib
from planner.units import KIB_PER_MIB

#: the kvm-qemu parameters a qemu process measurement can fit, in the order they are tried
FITTED_TERMS = ("process_kib", "per_extra_vcpu_kib", "page_table_ram_divisor")


@dataclass(frozen=True)
class OverheadSample:
    """One running domain's qemu process, measured."""

    uri: str
    name: str
    memory_kib: int  #: the guest's RAM (``<memory>``) [KiB]
    vcpu_count: int
    measured_kib: int  #: process RSS - resident guest RAM - file pages + page tables [KiB]
    file_rss_kib: int = 0  #: the process's file pages (``RssFile``), once per host [KiB]


@dataclass(frozen=True)
class OverheadFit:
    """The fitted parameters, which terms were fitted, and the residual of each sample."""

    params: KvmQemuParams  #: the base's, with the fitted terms replaced
    fitted: tuple[str, ...]  #: parameter names fitted from the samples
    kept: dict[str, str]  #: parameter name -> why the base's value was kept
    predicted_kib: tuple[int, ...]  #: the profile's qemu-process overhead for each sample [KiB]
    residual_kib: tuple[int, ...]  #: measured - predicted, per sample [KiB]
    per_mib_kib: float | None  #: the fitted per-MiB term, when fitted [KiB per MiB of guest RAM]

    @property
    def rms_residual_kib(self) -> float:
        return math.sqrt(sum(r * r for r in self.residual_kib) / len(self.residual_kib))


def process_overhead_kib(memory_kib: int, vcpu_count: int, params: KvmQemuParams) -> int:
    """What the qemu process alone costs in the model: the whole per-guest overhead less
    libvirtd's growth per guest. [KiB]"""
    return host_overhead_kib(memory_kib, vcpu_count, params) - params.per_guest_daemon_kib


def _columns(samples: Sequence[OverheadSample]) -> dict[str, list[float]]:
    return {
        "process_kib": [1.0] * len(samples),
        "per_extra_vcpu_kib": [float(s.vcpu_count - 1) for s in samples],
        "page_table_ram_divisor": [s.memory_kib / KIB_PER_MIB for s in samples],
    }


def _determined(samples: Sequence[OverheadSample]) -> tuple[list[str], dict[str, str]]:
    """The terms the samples determine (each raises the column rank), and why the others are not."""
    import numpy as np

    columns = _columns(samples)
    chosen: list[str] = []
    kept: dict[str, str] = {}
    for term in FITTED_TERMS:
        trial = np.array([columns[t] for t in [*chosen, term]]).T
        if np.linalg.matrix_rank(trial) > len(chosen):
            chosen.append(term)
        elif term == "per_extra_vcpu_kib":
            kept[term] = "the domains all have the same vCPU count"
        elif len({s.memory_kib for s in samples}) < 2:
            kept[term] = "the domains all have the same size"
        else:
            kept[term] = (
                "the domains' sizes change with their vCPU counts: the two terms cannot be told apart"
            )
    return chosen, kept


def _solve(samples: Sequence[OverheadSample], terms: Sequence[str], base: KvmQemuParams) -> dict[str, float]:
    """Least squares of the measured overhead, less the base's kept terms, on ``terms``."""
    import numpy as np

    columns = _columns(samples)
    target = []
    for s in samples:
        y = float(s.measured_kib)
        if "per_extra_vcpu_kib" not in terms:
            y -= base.per_extra_vcpu_kib * max(s.vcpu_count - 1, 0)
        if "page_table_ram_divisor" not in terms:
            y -= math.ceil(s.memory_kib / base.page_table_ram_divisor)
        target.append(y)
    matrix = np.array([columns[t] for t in terms]).T
    solution, *_ = np.linalg.lstsq(matrix, np.array(target), rcond=None)
    return {t: float(v) for t, v in zip(terms, solution, strict=True)}


def fit_overhead(samples: Sequence[OverheadSample], base: KvmQemuParams) -> OverheadFit:
    """Fit the qemu-process terms of the kvm-qemu model to measured domains.

    Parameters
    ----------
    samples
        At least one measured domain.
    base
        The profile whose values are kept for the terms the samples do not determine.

    Raises
    ------
    ValueError
        With no sample, or a fixed term that fits below zero (no qemu process costs less than
        nothing: a measurement to look at, not to write down).
    """
    if not samples:
        raise ValueError("no sample to fit")
    terms, kept = _determined(samples)
    values = _solve(samples, terms, base)
    for term in ("page_table_ram_divisor", "per_extra_vcpu_kib"):
        if term in values and values[term] <= 0:
            unit = "KiB per MiB" if term == "page_table_ram_divisor" else "KiB per vCPU"
            kept[term] = f"it fits at {values[term]:.1f} {unit}, not above zero"
            terms = [t for t in terms if t != term]
            values = _solve(samples, terms, base)
    if values["process_kib"] < 0:
        raise ValueError(f"the fixed term fits at {values['process_kib']:.0f} KiB, below zero")
    params = replace(base, process_kib=round(values["process_kib"]))
    if "per_extra_vcpu_kib" in values:
        params = replace(params, per_extra_vcpu_kib=round(values["per_extra_vcpu_kib"]))
    per_mib = values.get("page_table_ram_divisor")
    if per_mib is not None:
        params = replace(params, page_table_ram_divisor=max(1, round(KIB_PER_MIB / per_mib)))
    params = replace(params, shared_file_kib=max(s.file_rss_kib for s in samples))
    predicted = tuple(process_overhead_kib(s.memory_kib, s.vcpu_count, params) for s in samples)
    return OverheadFit(
        params=params,
        fitted=tuple(terms),
        kept={t: kept[t] for t in FITTED_TERMS if t in kept},
        predicted_kib=predicted,
        residual_kib=tuple(s.measured_kib - p for s, p in zip(samples, predicted, strict=True)),
        per_mib_kib=per_mib,
    )

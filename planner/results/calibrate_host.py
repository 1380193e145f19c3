"""The result of ``planner calibrate-host``: the hypervisor profile fitted to a live host's qemu
processes, each measured domain with its residual, and the domains left out.

``to_json()`` is what ``--json`` prints; the readable text is
:func:`planner.report.text.calibrate_host_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FittedDomain:
    """One measured domain: its qemu process overhead, measured and as the profile predicts it. [KiB]"""

    uri: str
    name: str
    domain_type: str  #: ``<domain type=>``: kvm, qemu (TCG)
    memory_kib: int
    vcpu_count: int
    measured_kib: int  #: process RSS - resident guest RAM + page tables
    predicted_kib: int  #: the fitted profile's qemu-process overhead (libvirtd's share apart)

    @property
    def residual_kib(self) -> int:
        return self.measured_kib - self.predicted_kib

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "name": self.name,
            "domain_type": self.domain_type,
            "memory_kib": self.memory_kib,
            "vcpus": self.vcpu_count,
            "measured_kib": self.measured_kib,
            "predicted_kib": self.predicted_kib,
            "residual_kib": self.residual_kib,
        }


@dataclass(frozen=True)
class FittedParameter:
    """One parameter of the profile written: its value, how it is known, where it comes from."""

    value: int
    kind: str  #: measured (fitted here), or the base profile's kind when kept
    source: str
    fitted: bool


@dataclass(frozen=True)
class HostCalibrationResult:
    """``planner calibrate-host``: a hypervisor profile fitted to the qemu processes of live hosts."""

    uris: tuple[str, ...]
    name: str  #: the profile's name
    base: str  #: the profile whose values were kept for the terms not fitted
    base_parameters: Mapping[str, int]  #: the base's values, for comparison
    date: str  #: ISO date of the measurement (UTC)
    parameters: Mapping[str, FittedParameter]
    kept: Mapping[str, str]  #: parameter -> why the base's value was kept
    domains: tuple[FittedDomain, ...]
    skipped: tuple[tuple[str, str], ...]  #: (domain, why it was not used)
    rms_residual_kib: float
    per_mib_kib: float | None  #: the fitted per-MiB term, when fitted [KiB per MiB]
    profile_yaml: str  #: the profile as written (or to write)
    output: str | None  #: where it was written; None: not written
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "uris": list(self.uris),
            "name": self.name,
            "base": self.base,
            "date": self.date,
            "output": self.output,
            "parameters": {
                k: {"value": p.value, "kind": p.kind, "source": p.source, "fitted": p.fitted}
                for k, p in self.parameters.items()
            },
            "base_parameters": dict(self.base_parameters),
            "kept": dict(self.kept),
            "per_mib_kib": self.per_mib_kib,
            "rms_residual_kib": self.rms_residual_kib,
            "domains": [d.to_json() for d in self.domains],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "notes": list(self.notes),
            "profile_yaml": self.profile_yaml,
        }

"""Measured against predicted: what a command-line change did on two real boots.

:func:`check_change` pairs a baseline boot and a boot with the change (same kernel, RAM,
vCPUs and machine; bootlab evidence, :mod:`planner.evidence`) and compares, for each
quantity, the measured difference with the one :func:`planner.kernel.model.predict` gives
for the two command lines: the dmesg ``reserved`` figure and MemTotal (deterministic: they
must agree within ``tolerance_kib``, 64 KiB by default), every hash table the dmesg prints
(exact sizes: tolerance 0), and MemAvailable (reported, not judged: per-CPU page lists and
the page cache move it by a few hundred KiB from one boot to the next, reference
bootlab-debian-6.1.md §1 and tests/data/bootlab/README.md). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.errors import EvidenceError
from planner.evidence.records import Evidence
from planner.kernel.calibration import Calibration
from planner.kernel.model import GuestSpec, Prediction, predict

#: the agreement asked of the MemTotal terms [KiB]
DEFAULT_TOLERANCE_KIB = 64


@dataclass(frozen=True)
class Delta:
    """One quantity's change (changed boot - baseline boot), measured and predicted. [KiB]"""

    quantity: str  # "reserved_kib", "mem_total_kib", "mem_available_kib", "hash:Dentry cache"
    measured_kib: int
    predicted_kib: int
    tolerance_kib: int | None  # None: reported, not judged

    @property
    def error_kib(self) -> int:
        return self.predicted_kib - self.measured_kib

    @property
    def agrees(self) -> bool | None:
        return None if self.tolerance_kib is None else abs(self.error_kib) <= self.tolerance_kib


@dataclass(frozen=True)
class ChangeCheck:
    """A change verified on two boots."""

    label: str  # the options added (+) and removed (-)
    baseline_source: str
    changed_source: str
    baseline_cmdline: str
    changed_cmdline: str
    deltas: tuple[Delta, ...]

    @property
    def agrees(self) -> bool:
        """Every judged quantity within its tolerance."""
        return all(d.agrees is not False for d in self.deltas)

    def delta(self, quantity: str) -> Delta:
        return next(d for d in self.deltas if d.quantity == quantity)

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.label,
            "baseline": self.baseline_source,
            "changed": self.changed_source,
            "baseline_cmdline": self.baseline_cmdline,
            "changed_cmdline": self.changed_cmdline,
            "agrees": self.agrees,
            "deltas": [
                {
                    "quantity": d.quantity,
                    "measured_kib": d.measured_kib,
                    "predicted_kib": d.predicted_kib,
                    "error_kib": d.error_kib,
                    "tolerance_kib": d.tolerance_kib,
                    "agrees": d.agrees,
                }
                for d in self.deltas
            ],
        }


def describe_change(baseline_cmdline: str, changed_cmdline: str) -> str:
    """``+dhash_entries=1024 -log_buf_len=1M``: the options one command line adds and drops."""
    before, after = baseline_cmdline.split(), changed_cmdline.split()
    added = [f"+{t}" for t in after if t not in before]
    removed = [f"-{t}" for t in before if t not in after]
    return " ".join(added + removed) or "(no change)"


def _cmdline(ev: Evidence) -> str:
    if ev.cmdline is not None:
        return ev.cmdline
    if ev.dmesg is not None and ev.dmesg.command_line is not None:
        return ev.dmesg.command_line
    raise EvidenceError(
        "expected the kernel command line (/proc/cmdline or dmesg); found none", file=ev.source
    )


def _measured(ev: Evidence) -> dict[str, int]:
    """reserved, MemTotal, MemAvailable of one boot. [KiB]"""
    if ev.dmesg is None or ev.dmesg.memory is None:
        raise EvidenceError("expected a dmesg 'Memory:' line; found none", file=ev.source, field="Memory")
    if ev.meminfo is None or "MemTotal" not in ev.meminfo or "MemAvailable" not in ev.meminfo:
        raise EvidenceError("expected /proc/meminfo with MemTotal and MemAvailable", file=ev.source)
    return {
        "reserved_kib": ev.dmesg.memory.reserved_kib,
        "mem_total_kib": ev.meminfo["MemTotal"],
        "mem_available_kib": ev.meminfo["MemAvailable"],
    }


def _spec(ev: Evidence, cmdline: str) -> GuestSpec:
    if ev.memory_kib is None:
        raise EvidenceError("expected the configured RAM of the boot (bootlab manifest)", file=ev.source)
    return GuestSpec(ev.memory_kib, ev.vcpu_count or 1, None, cmdline, ev.machine)


def _same_machine(baseline: Evidence, changed: Evidence) -> None:
    for name in ("memory_kib", "vcpu_count", "machine"):
        if getattr(baseline, name) != getattr(changed, name):
            raise EvidenceError(
                f"expected the same {name} as the baseline {baseline.source} "
                f"({getattr(baseline, name)}); found {getattr(changed, name)}",
                file=changed.source,
                field=name,
            )
    if baseline.dmesg and changed.dmesg and baseline.dmesg.release != changed.dmesg.release:
        raise EvidenceError(
            f"expected the baseline's kernel {baseline.dmesg.release}; found {changed.dmesg.release}",
            file=changed.source,
        )


def _table_kib(ev: Evidence) -> dict[str, int]:
    assert ev.dmesg is not None
    return {t.name: t.size_bytes // 1024 for t in ev.dmesg.hash_tables if t.size_printed}


def _predicted_table_kib(p: Prediction) -> dict[str, int]:
    return {t.name: t.size_bytes // 1024 for t in p.hash_tables}


def check_change(
    calibration: Calibration,
    baseline: Evidence,
    changed: Evidence,
    *,
    tolerance_kib: int = DEFAULT_TOLERANCE_KIB,
) -> ChangeCheck:
    """Measured and predicted differences between a baseline boot and a boot with a change.

    Raises
    ------
    EvidenceError
        A boot without a ``Memory:`` line or meminfo, or two boots of different RAM,
        vCPUs, machine or kernel.
    """
    _same_machine(baseline, changed)
    base_cmd, new_cmd = _cmdline(baseline), _cmdline(changed)
    m0, m1 = _measured(baseline), _measured(changed)
    p0 = predict(calibration, _spec(baseline, base_cmd), out_of_range="ignore")
    p1 = predict(calibration, _spec(changed, new_cmd), out_of_range="ignore")
    predicted = {
        "reserved_kib": p1.reserved_kib - p0.reserved_kib,
        "mem_total_kib": p1.mem_total_kib - p0.mem_total_kib,
        "mem_available_kib": p1.mem_available_kib - p0.mem_available_kib,
    }
    deltas = [
        Delta(q, m1[q] - m0[q], predicted[q], None if q == "mem_available_kib" else tolerance_kib)
        for q in ("reserved_kib", "mem_total_kib", "mem_available_kib")
    ]
    t0, t1 = _table_kib(baseline), _table_kib(changed)
    q0, q1 = _predicted_table_kib(p0), _predicted_table_kib(p1)
    for name in t0:
        if name in t1 and name in q0 and name in q1 and (t0[name] != t1[name] or q0[name] != q1[name]):
            deltas.append(Delta(f"hash:{name}", t1[name] - t0[name], q1[name] - q0[name], 0))
    return ChangeCheck(
        describe_change(base_cmd, new_cmd),
        baseline.source,
        changed.source,
        base_cmd,
        new_cmd,
        tuple(deltas),
    )

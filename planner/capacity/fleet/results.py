"""Results of the fleet questions: frozen records with ``to_json()``.

Counts are guests; fills are used / capacity (0..1) per resource; costs are in the host
types' own unit (1 per host for "fewest hosts"). The JSON keeps the same names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from planner.capacity.fleet.model import ExistingHost, Status

Verdict = Literal["survives", "fails", "unknown"]


def _num(value: float) -> float | None:
    """A float for JSON (no infinities)."""
    return None if not math.isfinite(value) else round(value, 9)


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / objective``; 0 when they meet, inf with no plan."""
    if not math.isfinite(objective):
        return math.inf
    if objective <= bound + 1e-9 * max(1.0, abs(bound)):
        return 0.0
    return (objective - bound) / abs(objective) if objective else math.inf


def _counts_json(counts: Mapping[tuple[str, int], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (profile, node_id), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if n:
            out.setdefault(str(node_id), {})[profile] = n
    return out


@dataclass(frozen=True)
class PlannedHost:
    """One host of a plan: guests per (profile, node) and the fill of each resource."""

    name: str
    host_type: str
    counts: Mapping[tuple[str, int], int]
    node_fill: Mapping[int, Mapping[str, float]]
    host_fill: Mapping[str, float]
    existing: bool = False

    @property
    def guest_count(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host_type": self.host_type,
            "existing": self.existing,
            "guest_count": self.guest_count,
            "counts": _counts_json(self.counts),
            "node_fill": {str(k): {r: _num(v) for r, v in f.items()} for k, f in self.node_fill.items()},
            "host_fill": {s: _num(v) for s, v in self.host_fill.items()},
        }


@dataclass(frozen=True)
class Move:
    """``count`` guests of ``profile`` move from a host's node to another host's node."""

    profile: str
    from_host: str
    from_node: int
    to_host: str
    to_node: int
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "from_host": self.from_host,
            "from_node": self.from_node,
            "to_host": self.to_host,
            "to_node": self.to_node,
            "count": self.count,
        }


@dataclass(frozen=True)
class Scenario:
    """One failure scenario: the failed hosts and whether their guests fit elsewhere.

    ``weight`` is how many sets of failed hosts this one stands for (hosts of the same type
    running the same guests are interchangeable). ``decided_by``: ``greedy`` (first fit found
    the evacuation, ``moves``), ``exact`` (the pattern master found one, or proved none
    exists), ``bound`` (a capacity bound proved that none exists). ``displaced_share`` is the
    displaced demand over the survivors' free capacity, the largest over resources.
    """

    failed: tuple[str, ...]
    weight: int
    displaced: Mapping[str, int]
    verdict: Verdict
    decided_by: str
    displaced_share: float
    moves: tuple[Move, ...] = ()
    unplaced: Mapping[str, int] | None = None
    spare_hosts_needed: int | None = None

    def to_json(self, *, with_moves: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "failed": list(self.failed),
            "weight": self.weight,
            "displaced": dict(self.displaced),
            "verdict": self.verdict,
            "decided_by": self.decided_by,
            "displaced_share": _num(self.displaced_share),
            "spare_hosts_needed": self.spare_hosts_needed,
        }
        if self.unplaced:
            out["unplaced"] = dict(self.unplaced)
        if with_moves:
            out["moves"] = [m.to_json() for m in self.moves]
        return out


@dataclass(frozen=True)
class FailoverReport:
    """N+r: with any ``failures`` hosts failed, do their guests fit the others' free capacity?

    ``survives`` is True only when every scenario was shown to survive, False when one was
    shown to fail, None when some stayed undecided. ``spare_hosts_needed`` empty hosts of
    ``spare_host_type`` make every failing scenario survive (spares may fail too; see
    :func:`planner.capacity.fleet.failover.check_failover`). ``held_back`` is the largest displaced
    demand per resource, keyed by resource name in its unit (``memory_kib``, ``hugepages_kib``:
    KiB; ``vcpu_count``: vCPUs): what the fleet must keep free, at least, in total.
    """

    failures: int
    survives: bool | None
    host_sets: int
    host_sets_checked: int
    scenarios: tuple[Scenario, ...]
    worst: tuple[Scenario, ...]
    spare_host_type: str | None
    spare_hosts_needed: int | None
    held_back: Mapping[str, float]
    node_reserve: Mapping[str, Mapping[int, Mapping[str, int]]]
    classes: int
    solve_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "classes": self.classes,
            "survives": self.survives,
            "host_sets": self.host_sets,
            "host_sets_checked": self.host_sets_checked,
            "scenario_count": len(self.scenarios),
            "failing_scenarios": sum(1 for s in self.scenarios if s.verdict == "fails"),
            "unknown_scenarios": sum(1 for s in self.scenarios if s.verdict == "unknown"),
            "worst": [s.to_json() for s in self.worst],
            "spare_host_type": self.spare_host_type,
            "spare_hosts_needed": self.spare_hosts_needed,
            "held_back": {k: _num(v) for k, v in self.held_back.items()},
            "node_reserve": {
                t: {str(k): dict(r) for k, r in nodes.items()} for t, nodes in self.node_reserve.items()
            },
            "solve_s": _num(self.solve_s),
        }


@dataclass(frozen=True)
class FleetPlan:
    """Fewest hosts / least cost for an inventory (question a), optionally surviving N+r.

    ``objective`` is the cost of the new hosts (existing hosts cost nothing more);
    ``lower_bound`` a proven bound on it; ``status`` is ``optimal`` only when they meet.
    ``lp_value`` is the linear relaxation's value (the column generation's last master) for
    placing the inventory, hosts bought in fractions: the bound is derived from it, rounded
    up to whole hosts. With ``failures_tolerated`` it stays the relaxation of the plan
    *before* the spare hosts, while ``objective`` and ``lower_bound`` count the spares
    (``failures_tolerated`` times the cheapest host type's cost in the bound).
    ``binding`` maps a constraint name (``node0.memory_kib``, ``host.vcpu_count``) to the
    number of hosts on which it stops one more guest of a profile in the inventory.
    ``ffd_objective`` is what first fit decreasing needs for the same inventory.
    """

    status: Status
    objective: float
    lower_bound: float
    lp_value: float
    gap: float
    hosts: tuple[PlannedHost, ...]
    hosts_per_type: Mapping[str, int]
    binding: Mapping[str, int]
    ffd_objective: float
    ffd_hosts: int
    iterations: int
    column_count: int
    solve_s: float
    failures_tolerated: int = 0
    spare_hosts: tuple[str, ...] = ()
    failover: FailoverReport | None = None

    @property
    def new_host_count(self) -> int:
        return sum(self.hosts_per_type.values())

    def as_existing(self) -> tuple[ExistingHost, ...]:
        """The planned hosts as existing hosts (input to headroom, failover, consolidation)."""
        return tuple(ExistingHost(h.name, h.host_type, dict(h.counts)) for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "objective": _num(self.objective),
            "lower_bound": _num(self.lower_bound),
            "lp_value": _num(self.lp_value),
            "gap": _num(self.gap),
            "new_hosts": self.new_host_count,
            "hosts_per_type": dict(self.hosts_per_type),
            "binding": dict(self.binding),
            "first_fit_decreasing": {"objective": _num(self.ffd_objective), "hosts": self.ffd_hosts},
            "iterations": self.iterations,
            "columns": self.column_count,
            "solve_s": _num(self.solve_s),
            "failures_tolerated": self.failures_tolerated,
            "spare_hosts": list(self.spare_hosts),
            "failover": None if self.failover is None else self.failover.to_json(),
            "hosts": [h.to_json() for h in self.hosts],
        }


@dataclass(frozen=True)
class HostHeadroom:
    """How many more guests of each profile fit one host (each profile alone)."""

    name: str
    host_type: str
    per_profile: Mapping[str, int]
    per_node: Mapping[str, Mapping[int, int]]
    blocked_by: Mapping[str, tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host_type": self.host_type,
            "more": dict(self.per_profile),
            "per_node": {p: {str(k): n for k, n in nodes.items()} for p, nodes in self.per_node.items()},
            "blocked_by": {p: list(b) for p, b in self.blocked_by.items()},
        }


@dataclass(frozen=True)
class Headroom:
    """Headroom across the fleet (question b): more guests of each profile, alone, per host and in total."""

    hosts: tuple[HostHeadroom, ...]
    total: Mapping[str, int]
    solve_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "total": dict(self.total),
            "solve_s": _num(self.solve_s),
            "hosts": [h.to_json() for h in self.hosts],
        }


@dataclass(frozen=True)
class Consolidation:
    """Hosts that can be emptied (question d): which, and the moves that empty them.

    ``objective`` hosts emptied (of ``upper_bound`` at most, proven); ``greedy_emptied`` what
    emptying the least-loaded hosts first by first fit manages (the peers' heuristic).
    """

    status: Status
    emptied: tuple[str, ...]
    moves: tuple[Move, ...]
    objective: float
    upper_bound: float
    gap: float
    greedy_emptied: int
    solve_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "emptied": list(self.emptied),
            "objective": _num(self.objective),
            "upper_bound": _num(self.upper_bound),
            "gap": _num(self.gap),
            "greedy_emptied": self.greedy_emptied,
            "solve_s": _num(self.solve_s),
            "moves": [m.to_json() for m in self.moves],
        }

"""The result of ``planner fleet`` (:func:`planner.workflows.fleet.fleet`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.capacity.fleet import Consolidation, FailoverReport, FleetPlan, Headroom, PlannedHost

__all__ = ["Consolidation", "FailoverReport", "FleetPlan", "FleetResult", "Headroom", "PlannedHost"]


@dataclass(frozen=True)
class FleetResult:
    """The four fleet questions for one fleet file; a question that does not apply is None.

    ``plan`` (a: fewest hosts / least cost for the inventory, surviving ``failures`` failed
    hosts when asked); ``headroom`` (b), ``failover`` (c) and ``consolidation`` (d) are about
    the existing hosts. ``profiles``: each guest's demand (``memory_kib``, ``hugepages_kib``
    per node, ``vcpu_count`` per host).
    """

    fleet_file: str
    failures: int
    profiles: Mapping[str, Mapping[str, float]]
    inventory: Mapping[str, int]
    existing_hosts: int
    plan: FleetPlan | None
    headroom: Headroom | None
    failover: FailoverReport | None
    consolidation: Consolidation | None

    def to_json(self) -> dict[str, Any]:
        return {
            "fleet_file": self.fleet_file,
            "failures": self.failures,
            "profiles": {k: dict(v) for k, v in self.profiles.items()},
            "inventory": dict(self.inventory),
            "existing_hosts": self.existing_hosts,
            "plan": None if self.plan is None else self.plan.to_json(),
            "headroom": None if self.headroom is None else self.headroom.to_json(),
            "failover": None if self.failover is None else self.failover.to_json(),
            "consolidation": None if self.consolidation is None else self.consolidation.to_json(),
        }

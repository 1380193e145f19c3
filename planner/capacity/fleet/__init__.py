"""Fleet questions (issue 12): sizing, headroom, N+r failover and consolidation across many hosts.

The public entry points are re-exported here:

* :func:`plan_fleet` (fewest hosts / least cost; ``failures=r`` for N+r), :func:`headroom`;
* :func:`check_failover` (N+r check, spares and per-node headroom to hold back);
* :func:`consolidate` (hosts that could be emptied);
* the inputs :class:`FleetProblem`, :class:`HostType`, :class:`ExistingHost` and the results
  in :mod:`planner.capacity.fleet.results`.

Modules, bottom up: ``model`` (inputs as arrays), ``state`` (hosts with guests),
``results``; ``greedy`` (first fit decreasing); ``knapsack``, ``patterns``, ``anchored``,
``pricing`` (the pricing problem), ``colgen`` (the linear master and its bound),
``rounding`` and ``polish`` (hosts from the master); ``plan``, ``evacuate``, ``failover``,
``spares``, ``consolidate`` (the questions).
"""

from planner.capacity.fleet.consolidate import consolidate
from planner.capacity.fleet.failover import check_failover
from planner.capacity.fleet.model import ExistingHost, FleetProblem, HostType
from planner.capacity.fleet.plan import headroom, plan_fleet
from planner.capacity.fleet.results import (
    Consolidation,
    FailoverReport,
    FleetPlan,
    Headroom,
    HostHeadroom,
    Move,
    PlannedHost,
    Scenario,
)

__all__ = [
    "Consolidation",
    "ExistingHost",
    "FailoverReport",
    "FleetPlan",
    "FleetProblem",
    "Headroom",
    "HostHeadroom",
    "HostType",
    "Move",
    "PlannedHost",
    "Scenario",
    "check_failover",
    "consolidate",
    "headroom",
    "plan_fleet",
]

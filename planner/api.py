"""The library's entry points, one call per command, each returning a typed result with
``to_json()`` (:mod:`planner.results`); the work is done in :mod:`planner.workflows`.

>>> from planner.api import fit                                    # doctest: +SKIP
>>> fit("examples/kvm-two-nodes.yaml").total_guests                 # doctest: +SKIP
"""

from planner.capacity.sizing import AUTO_STEP_KIB
from planner.results import (
    CalibrateResult,
    CheckDomain,
    CheckNode,
    CheckResult,
    FitResult,
    HostCheck,
    NodeResult,
    PerGuest,
    PlanResult,
    PredictResult,
    ProfileListing,
)
from planner.results.tune import TuneReport
from planner.workflows.analyze import CHECK_DEFAULT_VCPU_RATIO, CheckProfile, CheckSettings, analyze_host
from planner.workflows.catalog import host_schema, profiles
from planner.workflows.check import check
from planner.workflows.fit import fit, fit_capacity
from planner.workflows.kernel import calibrate_logs, predict_guest
from planner.workflows.tune import tune

__all__ = [
    "AUTO_STEP_KIB",
    "CHECK_DEFAULT_VCPU_RATIO",
    "CalibrateResult",
    "CheckDomain",
    "CheckNode",
    "CheckProfile",
    "CheckResult",
    "CheckSettings",
    "FitResult",
    "HostCheck",
    "NodeResult",
    "PerGuest",
    "PlanResult",
    "PredictResult",
    "ProfileListing",
    "TuneReport",
    "analyze_host",
    "calibrate_logs",
    "check",
    "fit",
    "fit_capacity",
    "host_schema",
    "predict_guest",
    "profiles",
    "tune",
]

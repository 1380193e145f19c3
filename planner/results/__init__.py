"""Typed, frozen results of every planner command, each with ``to_json()``.

A result carries everything its report needs (size sweeps, alone counts, the calibrations
and profiles used, the input files with their sha256), so :mod:`planner.report` never reads
an input again, runs the kernel model or solves. :mod:`.fit` (``planner fit``),
:mod:`.check` (``planner check``), :mod:`.kernel` (``predict``, ``calibrate``, ``profiles``),
:mod:`.bootlab` (``bootlab``; import it from there, so that the other commands do not load
the boot lab), :mod:`.tune` (``tune``).
"""

from planner.results.check import CheckDomain, CheckNode, CheckResult, HostCheck
from planner.results.common import InputFile
from planner.results.fit import (
    FitResult,
    FootprintSource,
    HypervisorParameter,
    NodeResult,
    PerGuest,
    PlanResult,
    SweepPoint,
)
from planner.results.kernel import CalibrateResult, PredictResult, ProfileListing

__all__ = [
    "CalibrateResult",
    "CheckDomain",
    "CheckNode",
    "CheckResult",
    "FitResult",
    "FootprintSource",
    "HostCheck",
    "HypervisorParameter",
    "InputFile",
    "NodeResult",
    "PerGuest",
    "PlanResult",
    "PredictResult",
    "ProfileListing",
    "SweepPoint",
]

"""``planner profiles`` and ``planner schema``: what ships with the planner, and the host
file's JSON schema."""

from __future__ import annotations

from typing import Any

from planner.inputs.calibrations import list_calibrations
from planner.inputs.profiles import describe_profiles
from planner.inputs.schema import host_file_schema
from planner.results import ProfileListing


def profiles() -> ProfileListing:
    """Every shipped kernel calibration, hypervisor profile and guest profile."""
    return ProfileListing(
        kernels=dict(list_calibrations()),
        hypervisors=dict(describe_profiles("hypervisors")),
        guests=dict(describe_profiles("guests")),
    )


def host_schema() -> dict[str, Any]:
    """JSON schema of a host file."""
    return host_file_schema()

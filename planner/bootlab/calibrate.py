"""``planner bootlab --calibrate NAME``: feed a campaign's logs to the kernel calibration."""

from __future__ import annotations

from pathlib import Path

from planner.errors import PlannerError


def calibrate_logs(out_dir: Path, name: str) -> Path:
    """Calibrate the dumps in ``out_dir`` into ``profiles/kernels/NAME.yaml``; returns the path."""
    raise PlannerError("--calibrate: planner.kernel has no calibrate() yet; run `planner calibrate` later")

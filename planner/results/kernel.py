"""The results of ``planner predict``, ``calibrate`` and ``profiles``.

``to_json()`` is what ``--json`` prints; the readable text is in :mod:`planner.report.text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.capacity.sizing import SizePoint
from planner.kernel.calibration import Calibration
from planner.kernel.model import Prediction
from planner.results.common import InputFile


@dataclass(frozen=True)
class ProfileListing:
    """Kernels, hypervisors and guest profiles: name -> one-line description."""

    kernels: Mapping[str, str]
    hypervisors: Mapping[str, str]
    guests: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "kernels": dict(self.kernels),
            "hypervisors": dict(self.hypervisors),
            "guests": dict(self.guests),
        }


@dataclass(frozen=True)
class CalibrateResult:
    """A calibration made from logs, where it was written, and what was skipped."""

    calibration: Calibration
    output: Path | None
    skipped: tuple[tuple[str, str], ...] = ()
    input_files: tuple[InputFile, ...] = ()  #: the logs (and manifests) read (not in the JSON)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.calibration.to_dict())
        data["output"] = str(self.output) if self.output else None
        data["skipped"] = [{"source": s, "reason": r} for s, r in self.skipped]
        return data


@dataclass(frozen=True)
class PredictResult:
    """One prediction, the calibration it came from, and what the report draws (not in the
    JSON): the same guest at sizes across the calibrated range, the files read."""

    prediction: Prediction
    calibration: Calibration
    sweep: tuple[SizePoint, ...]
    input_files: tuple[InputFile, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.prediction.to_json()
        data["kernel_release"] = self.calibration.kernel_release
        data["arch"] = self.calibration.arch
        return data

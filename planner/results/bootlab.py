"""The result of ``planner bootlab``: the boots, and the calibration made from them.

Not imported by :mod:`planner.results` itself, so that the other commands do not load the
boot lab (import it from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.bootlab.campaign import CampaignResult
from planner.results.kernel import CalibrateResult


@dataclass(frozen=True)
class BootlabResult:
    """The boots of ``planner bootlab``, and the calibration made from them when asked."""

    campaign: CampaignResult
    calibration: CalibrateResult | None

    def to_json(self) -> dict[str, Any]:
        extra = {"calibration": self.calibration.to_json()} if self.calibration else {}
        return self.campaign.to_json() | extra

"""Result types of :mod:`planner.kernel.tuning`: changes, snapshots, candidates, the recommendation.

Frozen, with ``to_json()`` on :class:`TuneResult` for scripts. All quantities KiB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.kernel.hashtables import HashTableSize
from planner.kernel.host import HostPrediction
from planner.kernel.model import Prediction
from planner.kernel.tuning_facts import OptionFacts


@dataclass(frozen=True)
class Change:
    """One command-line change: add ``option`` (replacing any ``key=``), or remove every ``key=``."""

    key: str
    option: str
    remove: bool = False

    @property
    def label(self) -> str:
        return f"remove {self.option}" if self.remove else self.option


def option_key(token: str) -> str:
    """``dhash_entries=1024`` -> ``dhash_entries``."""
    return token.partition("=")[0]


def apply_changes(cmdline: str, changes: Sequence[Change]) -> str:
    """The command line with ``changes`` applied in order (other options kept as they are)."""
    tokens = cmdline.split()
    for change in changes:
        tokens = [t for t in tokens if option_key(t) != change.key]
        if not change.remove:
            tokens.append(change.option)
    return " ".join(tokens)


@dataclass(frozen=True)
class Snapshot:
    """One prediction, reduced to what tuning compares. [KiB]"""

    cmdline: str
    kernel_kib: int  # what the kernel keeps from user space (a host: its own total)
    breakdown_kib: Mapping[str, int]
    totals_kib: Mapping[str, int]
    hash_tables: tuple[HashTableSize, ...]
    prediction: Prediction | HostPrediction


@dataclass(frozen=True)
class TableChange:
    """A hash table a change resizes."""

    name: str
    entries_before: int
    entries_after: int
    size_kib_before: int
    size_kib_after: int


@dataclass(frozen=True)
class Candidate:
    """A change that saves memory, with the saving per term (positive = the kernel keeps less)."""

    change: Change
    facts: OptionFacts
    saving_kib: int
    terms_kib: dict[str, int]
    totals_delta_kib: dict[str, int]  # after - before
    tables: tuple[TableChange, ...]
    after: Snapshot


@dataclass(frozen=True)
class Skipped:
    """A change considered and not proposed, with why."""

    key: str
    option: str
    reason: str


@dataclass(frozen=True)
class Recommendation:
    """Every candidate merged into one command line, predicted as a whole."""

    changes: tuple[Change, ...]
    before: Snapshot
    after: Snapshot
    summed_kib: int  # the candidates' savings added up (what the merge is compared with)
    dropped: tuple[Change, ...] = ()  # candidates left out because the merge saves more without them
    combined_only: tuple[Change, ...] = ()  # changes that cost alone but save with the others
    #: a guest: the smallest RAM with the same usable memory under the merged line (None: a host)
    same_usable_memory_kib: int | None = None

    @property
    def cmdline(self) -> str:
        return self.after.cmdline

    @property
    def saving_kib(self) -> int:
        return self.before.kernel_kib - self.after.kernel_kib


@dataclass(frozen=True)
class TuneResult:
    """The candidate list and the combined recommendation for one guest or host kernel."""

    target: Literal["guest", "host"]
    calibration: str
    kernel_release: str
    baseline: Snapshot
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skipped, ...]
    recommendation: Recommendation
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        rec = self.recommendation
        return {
            "target": self.target,
            "calibration": self.calibration,
            "kernel_release": self.kernel_release,
            "cmdline": self.baseline.cmdline,
            "candidates": [_candidate_json(c) for c in self.candidates],
            "skipped": [{"key": s.key, "option": s.option, "reason": s.reason} for s in self.skipped],
            "recommendation": {
                "cmdline": rec.cmdline,
                "changes": [c.label for c in rec.changes],
                "dropped": [c.label for c in rec.dropped],
                "combined_only": [c.label for c in rec.combined_only],
                "same_usable_memory_kib": rec.same_usable_memory_kib,
                "saving_kib": rec.saving_kib,
                "summed_kib": rec.summed_kib,
                "before_kib": dict(rec.before.totals_kib),
                "after_kib": dict(rec.after.totals_kib),
            },
            "notes": list(self.notes),
        }


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "option": c.change.label,
        "key": c.change.key,
        "saving_kib": c.saving_kib,
        "terms_kib": dict(c.terms_kib),
        "totals_delta_kib": dict(c.totals_delta_kib),
        "hash_tables": [vars(t) for t in c.tables],
        "risk": c.facts.risk,
        "versions": c.facts.versions,
        "source": c.facts.source,
    }

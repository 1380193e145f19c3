"""Many logs at once: files, evidence directories, and bootlab output directories.

A bootlab output directory (one with ``manifest.json``) stands for every boot in
it; boots that left no ``Memory:`` line (a silent reset, a qemu error) are
skipped with their reason, and boots that panicked after ``mem_init()`` are
kept (their ``reserved`` figure is still measured). An error reading a boot the
manifest lists as ``dump`` (or with no outcome) is raised, not skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from planner.errors import EvidenceError
from planner.evidence.bundle import load_evidence
from planner.evidence.manifest import MANIFEST_NAME
from planner.evidence.records import Evidence


@dataclass(frozen=True)
class LogSet:
    """Loaded evidence and what was skipped, with why."""

    evidences: tuple[Evidence, ...]
    skipped: tuple[tuple[str, str], ...]  # (source, reason)


def _manifest_logs(directory: Path) -> list[tuple[Path, str]]:
    manifest = directory / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvidenceError(f"expected a bootlab manifest (JSON); found {err}", file=manifest) from None
    boots = data.get("boots") if isinstance(data, dict) else None
    if not isinstance(boots, list):
        raise EvidenceError("expected a 'boots' list; found none", file=manifest, field="boots")
    out = []
    for i, boot in enumerate(boots):
        if not isinstance(boot, dict) or not isinstance(boot.get("log"), str):
            raise EvidenceError("expected a boot with a 'log' file name", file=manifest, field=f"boots[{i}]")
        out.append((directory / boot["log"], str(boot.get("outcome", ""))))
    return out


def load_logs(paths: list[str] | list[Path]) -> LogSet:
    """Load every log named, expanding bootlab output directories.

    Raises
    ------
    EvidenceError
        A named file that cannot be read or parsed (files listed in a manifest
        that hold no kernel output are skipped instead).
    """
    evidences: list[Evidence] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and (path / MANIFEST_NAME).is_file():
            for log, outcome in _manifest_logs(path):
                try:
                    evidence = load_evidence(log)
                except EvidenceError as err:
                    if outcome in ("dump", ""):  # not a failed boot: a bad log or manifest entry
                        raise
                    reason = "no kernel output" if outcome in ("silent-reset", "qemu-error") else err.message
                    skipped.append((str(log), f"{outcome}: {reason}"))
                    continue
                if evidence.dmesg is None or evidence.dmesg.memory is None:
                    skipped.append(
                        (str(log), f"{outcome or 'no Memory: line'}: no 'Memory:' line in the log")
                    )
                    continue
                evidences.append(evidence)
        else:
            evidences.append(load_evidence(path))
    return LogSet(tuple(evidences), tuple(skipped))

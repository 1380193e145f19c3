"""Many logs at once: files, evidence directories, and bootlab output directories.

A bootlab output directory (one with ``manifest.json``) stands for every boot in
it; boots that left no ``Memory:`` line (a silent reset, a qemu error) are
skipped with their reason, and boots that panicked after ``mem_init()`` are
kept (their ``reserved`` figure is still measured). An error reading a boot the
manifest lists as ``dump`` (or with no outcome) is raised, not skipped. A log given twice
(the same file by two names, a directory and a log in it, or two files with the same bytes)
is refused: it would count twice in the fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from planner.errors import EvidenceError, InputError
from planner.evidence.bundle import load_evidence
from planner.evidence.manifest import MANIFEST_NAME
from planner.evidence.records import Evidence


@dataclass(frozen=True)
class LogSet:
    """Loaded evidence, what was skipped (with why), and every file read."""

    evidences: tuple[Evidence, ...]
    skipped: tuple[tuple[str, str], ...]  # (source, reason)
    #: (role, path) of every file read: logs, manifests, the files of evidence directories
    #: (so that no output of the command replaces one of them)
    files: tuple[tuple[str, str], ...] = ()


class _Seen:
    """The logs loaded so far, by resolved path and by the sha256 of their bytes, each with the
    argument (position, text) it came from."""

    def __init__(self) -> None:
        self.paths: dict[Path, tuple[int, str]] = {}
        self.digests: dict[str, tuple[str, tuple[int, str]]] = {}

    def path(self, path: Path, given: tuple[int, str]) -> None:
        first = self.paths.setdefault(path.resolve(), given)
        if first is not given:
            raise _twice(str(path), first, given)

    def evidence(self, evidence: Evidence, given: tuple[int, str]) -> None:
        source, first = self.digests.setdefault(evidence.sha256, (evidence.source, given))
        if source != evidence.source:
            raise _twice(f"{evidence.source} (the same bytes as {source})", first, given)


def _twice(log: str, first: tuple[int, str], then: tuple[int, str]) -> InputError:
    if first[0] == then[0]:
        where = f"listed twice in {first[1]}"
    else:
        where = f"given as {first[1]} and again as {then[1]}"
    return InputError(f"expected each boot log once; found {log} twice ({where})", field="LOGS")


def _files_of(path: Path) -> list[tuple[str, str]]:
    """The files loading ``path`` reads: the file and a manifest beside it, or a directory's files."""
    if path.is_dir():
        return [("evidence file", str(p)) for p in sorted(path.iterdir()) if p.is_file()]
    beside = path.parent / MANIFEST_NAME
    return [("boot log", str(path))] + ([("bootlab manifest", str(beside))] if beside.is_file() else [])


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
    files: list[tuple[str, str]] = []
    seen = _Seen()
    for i, path in enumerate(Path(p) for p in paths):
        given = (i, str(path))
        if path.is_dir() and (path / MANIFEST_NAME).is_file():
            files.append(("bootlab manifest", str(path / MANIFEST_NAME)))
            for log, outcome in _manifest_logs(path):
                seen.path(log, given)
                files += _files_of(log)
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
                seen.evidence(evidence, given)
                evidences.append(evidence)
        else:
            seen.path(path, given)
            files += _files_of(path)
            evidence = load_evidence(path)
            seen.evidence(evidence, given)
            evidences.append(evidence)
    return LogSet(tuple(evidences), tuple(skipped), tuple(dict.fromkeys(files)))

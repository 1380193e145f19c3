"""The bootlab manifest beside a log: what qemu was told (RAM, vCPUs, machine) and what it kept.

If a ``manifest.json`` sits beside the log (in the same directory; for a directory input, beside
that directory) and lists the log, its ``memory_kib``, ``vcpu_count``, ``machine`` and
``guest_ram_resident_kib`` (qemu's resident guest RAM when the dump ended, see
:mod:`planner.bootlab.resident`) are used. Accepted shapes (``planner bootlab`` writes the first,
:mod:`planner.bootlab.boots`)::

    {"boots": [{"log": "128M-1cpu.log", "memory_kib": 131072, "vcpu_count": 1, "machine": "pc"}]}
    [{"log": "128M-1cpu.log", ...}]                      # a bare list
    {"128M-1cpu.log": {"memory_kib": 131072, ...}}       # keyed by file name

The entry's file key may be ``log``, ``file``, ``path`` or ``name``; it matches the log's name
or its path relative to the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import EvidenceError

__all__ = ["MANIFEST_NAME", "ManifestFacts", "manifest_facts"]

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ManifestFacts:
    """What a manifest entry says about one boot; None where it says nothing."""

    memory_kib: int | None = None  #: qemu ``-m`` [KiB]
    vcpu_count: int | None = None  #: qemu ``-smp``
    machine: str | None = None  #: qemu ``-machine``
    guest_ram_resident_kib: int | None = None  #: qemu's resident guest RAM when the dump ended [KiB]


def manifest_facts(path: Path) -> ManifestFacts:
    """The facts the bootlab manifest beside ``path`` lists for it (all None without one)."""
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return ManifestFacts()
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise EvidenceError(f"expected a readable JSON manifest; found {err}", file=manifest) from None
    except json.JSONDecodeError as err:
        raise EvidenceError(f"expected JSON; found {err.msg}", file=manifest, line=err.lineno) from None
    names = {path.name, path.as_posix()}
    for key, entry in _entries(data):
        if not isinstance(entry, dict):
            continue
        listed = key
        for file_key in ("log", "file", "path", "name"):
            if listed is None and isinstance(entry.get(file_key), str):
                listed = entry[file_key]
        if listed is None:
            continue
        listed_path = Path(listed)
        same_file = listed_path.name == path.name and (
            len(listed_path.parts) == 1 or (manifest.parent / listed_path).resolve() == path.resolve()
        )
        if listed in names or same_file:
            return _checked_facts(entry, manifest)
    return ManifestFacts()


def _entries(data: Any) -> list[tuple[str | None, Any]]:
    """(file name when the manifest is keyed by it, entry) of every shape above."""
    entries: list[tuple[str | None, Any]] = []
    if isinstance(data, dict) and any(isinstance(data.get(k), list) for k in ("boots", "logs", "runs")):
        for k in ("boots", "logs", "runs"):
            if isinstance(data.get(k), list):
                entries.extend((None, e) for e in data[k])
    elif isinstance(data, list):
        entries.extend((None, e) for e in data)
    elif isinstance(data, dict):
        entries.extend((str(k), v) for k, v in data.items())
    return entries


def _checked_facts(entry: dict[str, Any], manifest: Path) -> ManifestFacts:
    """The entry's facts, each of its type, or a located error."""
    counts: dict[str, int] = {}
    for key in ("memory_kib", "vcpu_count"):
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise EvidenceError(f"expected a positive integer; found {value!r}", file=manifest, field=key)
        counts[key] = value
    resident = entry.get("guest_ram_resident_kib")
    if resident is not None and (not isinstance(resident, int) or isinstance(resident, bool) or resident < 0):
        raise EvidenceError(
            f"expected a whole number of KiB; found {resident!r}",
            file=manifest,
            field="guest_ram_resident_kib",
        )
    machine = entry.get("machine")
    if machine is not None and (not isinstance(machine, str) or not machine):
        raise EvidenceError(
            f"expected a machine type such as 'pc'; found {machine!r}", file=manifest, field="machine"
        )
    return ManifestFacts(counts.get("memory_kib"), counts.get("vcpu_count"), machine, resident)

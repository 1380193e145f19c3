"""planner.evidence: kernel logs and /proc dumps -> typed, frozen records of measured values.

Nothing here estimates anything. Parsers (one per source) and the bundle loader:

* :func:`parse_dmesg` (``dmesg.py``; lines to records in ``dmesg_scan.py``, the ``Memory:`` and
  hash-table lines in ``dmesg_memory.py``, the architecture in ``dmesg_arch.py``),
  :func:`require_memory_line`, :func:`require_arch`
* :func:`parse_meminfo` (``meminfo.py``)
* :func:`parse_slabinfo`, :func:`parse_slabtop` (``slabinfo.py``)
* :func:`parse_zoneinfo` (``zoneinfo.py``)
* :func:`parse_size` (``size.py``)
* :func:`parse_bundle_text` (``capture.py``: a console capture and its dump sections)
* :func:`load_evidence` (``bundle.py``: a capture, a directory or a bare file), with the bootlab
  manifest beside it (``manifest.py``) and :func:`infer_memory_kib` (``configured_ram.py``)
* :func:`load_logs` (``logset.py``): every log of a directory or list, for calibration
* the records (``records.py``) and text hygiene shared by the parsers (``_text.py``)

Every parser raises :class:`planner.errors.EvidenceError` (with file and line) and nothing else.
"""

from __future__ import annotations

from planner.evidence.bundle import load_evidence
from planner.evidence.capture import parse_bundle_text
from planner.evidence.configured_ram import infer_memory_kib
from planner.evidence.dmesg import parse_dmesg, require_arch, require_memory_line
from planner.evidence.meminfo import parse_meminfo
from planner.evidence.records import (
    Dmesg,
    Evidence,
    FreedMemory,
    HashTable,
    Meminfo,
    MemoryLine,
    MemoryRange,
    Percpu,
    SizeOutput,
    SlabCache,
    Slabinfo,
    Zone,
    Zoneinfo,
    ZonePages,
)
from planner.evidence.size import parse_size
from planner.evidence.slabinfo import parse_slabinfo, parse_slabtop
from planner.evidence.zoneinfo import parse_zoneinfo

__all__ = [
    "Dmesg",
    "Evidence",
    "FreedMemory",
    "HashTable",
    "Meminfo",
    "MemoryLine",
    "MemoryRange",
    "Percpu",
    "SizeOutput",
    "SlabCache",
    "Slabinfo",
    "Zone",
    "ZonePages",
    "Zoneinfo",
    "infer_memory_kib",
    "load_evidence",
    "parse_bundle_text",
    "parse_dmesg",
    "parse_meminfo",
    "parse_size",
    "parse_slabinfo",
    "parse_slabtop",
    "parse_zoneinfo",
    "require_arch",
    "require_memory_line",
]

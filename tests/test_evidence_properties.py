"""Property tests: mutated real logs never make a parser raise anything but EvidenceError, and a
truncated log never yields a wrong value (a record is either the full log's or absent).

Inputs are the verbatim fixtures (tests/data/seed, tests/data/reference-6.1) and, when present,
the bootlab captures (tests/data/bootlab): a full dump and a panicked boot per architecture.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import EvidenceError
from planner.evidence import (
    Dmesg,
    parse_bundle_text,
    parse_dmesg,
    parse_meminfo,
    parse_size,
    parse_slabinfo,
    parse_slabtop,
    parse_zoneinfo,
)

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed"
REF = DATA / "reference-6.1"
BOOTLAB = DATA / "bootlab"

PARSERS: dict[str, Callable[[str, str], Any]] = {
    "dmesg": parse_dmesg,
    "meminfo": parse_meminfo,
    "slabinfo": parse_slabinfo,
    "slabtop": parse_slabtop,
    "zoneinfo": parse_zoneinfo,
    "size": parse_size,
    "bundle": parse_bundle_text,
}


def _bootlab_logs() -> list[Path]:
    """A dump and a failed boot per architecture, if the bootlab corpus is present."""
    wanted = ["cloud-amd64/128MiB-1cpu.log", "cloud-amd64/72MiB-1cpu.log", "s390x/128MiB-1cpu.log"]
    wanted += ["s390x/38MiB-1cpu.log", "s390x/32MiB-1cpu.log", "amd64/1GiB-1cpu.log"]
    return [BOOTLAB / w for w in wanted if (BOOTLAB / w).is_file()]


#: (name, raw bytes, parser key)
CORPUS: list[tuple[str, bytes, str]] = [
    ("seed/dmesg.txt", (SEED / "dmesg.txt").read_bytes(), "dmesg"),
    ("seed/meminfo.txt", (SEED / "meminfo.txt").read_bytes(), "meminfo"),
    ("seed/slabtop.txt", (SEED / "slabtop.txt").read_bytes(), "slabtop"),
    ("seed/size.txt", (SEED / "size.txt").read_bytes(), "size"),
    *[(f"reference-6.1/{p.name}", p.read_bytes(), "dmesg") for p in sorted(REF.glob("*.txt"))],
    *[(f"bootlab/{p.parent.name}/{p.name}", p.read_bytes(), "bundle") for p in _bootlab_logs()],
]


def _sections(text: str) -> dict[str, str]:
    """The ``==== NAME`` sections of a capture (for feeding section parsers with real dumps)."""
    out: dict[str, str] = {}
    name: str | None = None
    for line in text.replace("\r", "").split("\n"):
        if line.startswith("==== "):
            name = line[5:].strip()
            out[name] = ""
        elif line.startswith("########"):
            name = None
        elif name is not None:
            out[name] += line + "\n"
    return out


for _name, _raw, _kind in list(CORPUS):
    if _kind == "bundle":
        _sec = _sections(_raw.decode("utf-8", "replace"))
        for _section, _key in (("/proc/meminfo", "meminfo"), ("/proc/slabinfo", "slabinfo")):
            if _section in _sec:
                CORPUS.append((f"{_name}#{_key}", _sec[_section].encode(), _key))
        if "/proc/zoneinfo" in _sec:
            CORPUS.append((f"{_name}#zoneinfo", _sec["/proc/zoneinfo"].encode(), "zoneinfo"))


def _parse(kind: str, raw: bytes) -> Any:
    return PARSERS[kind](raw.decode("utf-8", "replace"), "mutated")


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """A corpus entry with one to three random mutations."""
    name, raw, kind = draw(st.sampled_from(CORPUS))
    data = raw
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "delete", "duplicate", "swap", "flip", "garbage"]))
        lines = _lines(data)
        if op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "delete" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            data = b"\n".join(lines[:i] + lines[i + 1 :])
        elif op == "duplicate" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            data = b"\n".join(lines[: i + 1] + lines[i:])
        elif op == "swap" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
        elif op == "garbage":
            i = draw(st.integers(0, len(data)))
            data = data[:i] + draw(st.binary(min_size=1, max_size=64)) + data[i:]
    return name, data, kind


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_logs_raise_only_evidence_error(case: tuple[str, bytes, str]) -> None:
    _name, data, kind = case
    with contextlib.suppress(EvidenceError):
        _parse(kind, data)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=2000))
def test_random_bytes_raise_only_evidence_error(kind: str, data: bytes) -> None:
    with contextlib.suppress(EvidenceError):
        _parse(kind, data)


def _dmesg_of(kind: str, result: Any) -> Dmesg | None:
    if kind == "dmesg":
        return result if isinstance(result, Dmesg) else None
    return getattr(result, "dmesg", None)


def _unplaced(dmesg: Dmesg) -> Dmesg:
    """``dmesg`` with line numbers zeroed: a capture cut before its dump falls back to the live
    console, whose copy of each line sits at another line of the file."""
    return replace(
        dmesg,
        memory=replace(dmesg.memory, line_number=0) if dmesg.memory else None,
        hash_tables=tuple(replace(t, line_number=0) for t in dmesg.hash_tables),
        freed=tuple(replace(f, line_number=0) for f in dmesg.freed),
    )


def _assert_prefix_consistent(full: Dmesg, part: Dmesg) -> None:
    """Every record of a truncated log is the full log's record (or is absent)."""
    full, part = _unplaced(full), _unplaced(part)
    assert part.memory is None or part.memory == full.memory
    for name in ("hash_tables", "freed", "e820", "node_ranges", "zones", "node_total_pages"):
        got, want = getattr(part, name), getattr(full, name)
        assert got == want[: len(got)], name
    for name in (
        "total_pages",
        "percpu",
        "nr_cpu_ids",
        "log_buf_len_bytes",
        "swiotlb_kib",
        "crashkernel_kib",
        "max_memory_kib",
    ):
        got = getattr(part, name)
        assert got is None or got == getattr(full, name), name
    for name in ("linux_version", "command_line", "panic"):
        got, want = getattr(part, name), getattr(full, name)
        assert got is None or (want is not None and want.startswith(got)), name


DMESG_CORPUS = [(n, r, k) for n, r, k in CORPUS if k in ("dmesg", "bundle")]
MEMINFO_CORPUS = [(n, r, k) for n, r, k in CORPUS if k == "meminfo"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DMESG_CORPUS), st.floats(0, 1))
def test_truncation_never_yields_a_wrong_record(entry: tuple[str, bytes, str], where: float) -> None:
    _name, raw, kind = entry
    full = _dmesg_of(kind, _parse(kind, raw))
    assert full is not None
    cut = raw[: int(len(raw) * where)]
    try:
        part = _dmesg_of(kind, _parse(kind, cut))
    except EvidenceError:
        return
    if part is not None:
        _assert_prefix_consistent(full, part)


@pytest.mark.parametrize("entry", DMESG_CORPUS, ids=[n for n, _, _ in DMESG_CORPUS])
def test_truncation_inside_the_memory_line(entry: tuple[str, bytes, str]) -> None:
    """Cut at every byte of every ``Memory:`` line: the full line or none/an error, never a wrong one."""
    _name, raw, kind = entry
    full = _dmesg_of(kind, _parse(kind, raw))
    if full is None or full.memory is None:
        pytest.skip("no Memory: line in this log")
    start = 0
    positions: list[int] = []
    while (i := raw.find(b"] Memory: ", start)) >= 0 or (i := raw.find(b"Memory: ", start)) >= 0:
        end = raw.find(b"\n", i)
        positions.extend(range(i, end if end >= 0 else len(raw)))
        start = (end if end >= 0 else len(raw)) + 1
    assert positions
    outcomes = {"error": 0, "none": 0, "full": 0}
    for cut in positions:
        try:
            part = _dmesg_of(kind, _parse(kind, raw[:cut]))
        except EvidenceError:
            outcomes["error"] += 1
            continue
        memory = part.memory if part is not None else None
        assert memory is None or replace(memory, line_number=0) == replace(full.memory, line_number=0), cut
        outcomes["none" if memory is None else "full"] += 1
    assert outcomes["error"] > 0  # a cut inside the line is reported, not silently dropped


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MEMINFO_CORPUS), st.floats(0, 1))
def test_truncated_meminfo_values_are_exact(entry: tuple[str, bytes, str], where: float) -> None:
    _name, raw, _kind = entry
    full = parse_meminfo(raw.decode(), "full")
    try:
        part = parse_meminfo(raw[: int(len(raw) * where)].decode("utf-8", "replace"), "cut")
    except EvidenceError:
        return
    for key, value in part.fields_kib.items():
        assert full.fields_kib[key] == value, key

"""Every real bootlab capture (tests/data/bootlab, see its README) parses, and the parsed sources
agree with each other the way the kernel says they must.

The outcome of each boot (``dump``, ``oom-panic``, ``panic``, ``silent-reset``) comes from the
``manifest.json`` the bootlab wrote beside the logs, not from the parser under test.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from planner.errors import EvidenceError
from planner.evidence import infer_memory_kib, load_evidence

BOOTLAB = Path(__file__).parent / "data" / "bootlab"


def _boots() -> list[tuple[Path, dict[str, object]]]:
    out = []
    for manifest in sorted(BOOTLAB.glob("*/manifest.json")):
        for boot in json.loads(manifest.read_text())["boots"]:
            log = manifest.parent / str(boot["log"])
            if log.is_file():
                out.append((log, boot))
    return out


BOOTS = _boots()
if not BOOTS:
    print(f"test_evidence_bootlab: no bootlab logs under {BOOTLAB}; these tests are skipped")
pytestmark = pytest.mark.skipif(not BOOTS, reason=f"no bootlab logs under {BOOTLAB}")


def _ids() -> list[str]:
    return [f"{log.parent.name}/{log.name}" for log, _ in BOOTS]


@pytest.mark.parametrize(("log", "boot"), BOOTS, ids=_ids())
def test_every_bootlab_log_parses(log: Path, boot: dict[str, object]) -> None:
    outcome = boot["outcome"]
    if outcome == "silent-reset":
        with pytest.raises(EvidenceError, match="reset before the kernel printed anything"):
            load_evidence(log)
        return
    ev = load_evidence(log)
    # the manifest beside the log gives the facts of the boot
    assert (ev.memory_kib, ev.vcpu_count, ev.machine) == (
        boot["memory_kib"],
        boot["vcpu_count"],
        boot["machine"],
    )
    # ... and the log alone gives the same configured RAM (e820 rule on x86, maximum memory size on s390x)
    assert infer_memory_kib(replace(ev, machine=None)) == boot["memory_kib"]
    d = ev.dmesg
    assert d is not None and d.memory is not None
    assert d.arch == boot["arch"]
    assert d.release is not None and d.linux_version is not None
    assert d.command_line == boot["cmdline"]
    if outcome in ("oom-panic", "panic"):
        assert d.panic is not None and not d.run_init and ev.meminfo is None
        assert d.oom == (outcome == "oom-panic")
        return
    assert outcome == "dump"
    assert d.run_init and d.panic is None
    # the dump's dmesg is used, not the live console as well: each table once
    names = [t.name for t in d.hash_tables]
    assert len(names) == len(set(names)) == 14
    assert ev.sections[:3] == ("uname -a", "/proc/cmdline", "dmesg")
    assert ev.cmdline == boot["cmdline"]
    assert ev.vcpu_count == ev.possible_cpu_count
    assert ev.uname is not None and d.release in ev.uname
    assert ev.meminfo is not None and ev.meminfo_end is not None
    assert ev.meminfo["MemTotal"] == ev.meminfo_end["MemTotal"]
    assert ev.min_free_kbytes is not None and ev.min_free_kbytes > 0
    assert ev.slabinfo is not None and ev.slabinfo.version == "2.1" and ev.slabinfo.caches
    assert ev.zoneinfo is not None
    # MemTotal (totalram) against the zones' managed pages: equal on x86; on s390x the zones' sum is
    # 0-24 kB short in this corpus (0 up to 256 MiB, 24 kB at 384 MiB-2 GiB, 16 kB at 4-8 GiB; not
    # explained here, the same size as the s390x residual of quirk §3.2)
    managed_kib = 4 * sum(z.managed_pages for z in ev.zoneinfo.zones)
    short_kib = ev.meminfo["MemTotal"] - managed_kib
    assert short_kib == 0 if d.arch == "x86_64" else 0 <= short_kib <= 24
    if d.arch == "x86_64":
        assert ev.thp_mode in ("always", "madvise", "never")
        assert d.e820 and d.node_ranges and d.percpu is not None and d.nr_cpu_ids == ev.possible_cpu_count
    else:
        assert ev.thp_mode is None  # no THP under TCG on s390x: the file does not exist
        assert d.max_memory_kib == boot["memory_kib"]


@pytest.mark.parametrize(
    ("log", "boot"),
    [(log, boot) for log, boot in BOOTS if boot["outcome"] == "dump"],
    ids=[f"{log.parent.name}/{log.name}" for log, boot in BOOTS if boot["outcome"] == "dump"],
)
def test_memtotal_is_physpages_minus_reserved_plus_freed(log: Path, boot: dict[str, object]) -> None:
    """bootlab-debian-6.1.md quirk §3.2: MemTotal = B - reserved + Σ 'Freeing ... memory' (x86 exactly,
    s390x 24 kB more); checked here within 24 KiB. Only the frees logged after the ``Memory:`` line
    count: 6.12 prints that line later, after 'Freeing SMP alternatives memory' (cloud-amd64-6.12)."""
    ev = load_evidence(log)
    assert ev.dmesg is not None and ev.dmesg.memory is not None and ev.meminfo is not None
    m = ev.dmesg.memory
    freed_after = sum(f.size_kib for f in ev.dmesg.freed if f.line_number > m.line_number)
    predicted_kib = m.physical_kib - m.reserved_kib - (m.cma_reserved_kib or 0) + freed_after
    assert abs(ev.meminfo["MemTotal"] - predicted_kib) <= 24
    if ev.dmesg.arch == "x86_64":
        assert ev.meminfo["MemTotal"] == predicted_kib

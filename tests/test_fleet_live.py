"""`planner fleet --from-check`: the running fleet read from libvirt test-driver hosts (read-only,
as `planner check`), its headroom re-derived from the check's own figures, N+1 moves applied."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app

DATA = Path(__file__).resolve().parent / "data" / "libvirt"
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("_libvirt")


@pytest.fixture
def _libvirt() -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")


def _host(tmp_path: Path, name: str, extra_mib: int) -> str:
    """host-two-nodes.xml (2 nodes of 2 and 4 GiB, three running guests) plus one guest of extra_mib."""
    text = (DATA / "host-two-nodes.xml").read_text()
    guest = (
        f"<domain type='test'><name>extra</name><memory unit='MiB'>{extra_mib}</memory><vcpu>1</vcpu>"
        "<numatune><memory mode='strict' nodeset='1'/></numatune>"
        "<os><type arch='x86_64'>hvm</type></os></domain>\n</node>"
    )
    path = tmp_path / f"{name}.xml"
    path.write_text(text.replace("</node>", guest) if extra_mib else text)
    return f"test://{path}"


def _json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_headroom_and_failover_of_live_hosts(tmp_path: Path) -> None:
    uris = [_host(tmp_path, "a", 0), _host(tmp_path, "b", 1024), _host(tmp_path, "c", 2048)]
    args = [a for u in uris for a in ("--from-check", u)]
    d = _json("fleet", *args, "--failures", "1")
    checked = _json("check", *uris)["hosts"]
    assert d["existing_hosts"] == 3 and d["plan"] is None
    # every running domain is in a profile of its committed memory; the stopped one in none
    running = Counter(dm["committed_kib"] for h in checked for dm in h["domains"] if dm["active"])
    assert set(running) == {demand["memory_kib"] for demand in d["profiles"].values()}
    # headroom: each profile alone, per node floor(left / demand), from the check's own node figures
    hr = {h["name"]: h for h in d["headroom"]["hosts"]}
    for uri, h in zip(uris, checked, strict=True):
        mine = hr[uri] if uri in hr else hr[h["hostname"]]
        for name, demand in d["profiles"].items():
            want = sum((n["capacity_kib"] - n["committed_kib"]) // demand["memory_kib"] for n in h["nodes"])
            assert mine["more"][name] == want, (uri, name)
    # N+1: each failed host's running domains move, to survivors only
    rep = d["failover"]
    assert rep["host_sets"] == rep["host_sets_checked"] == 3
    for s in rep["worst"]:
        if s["verdict"] == "survives":
            moved: Counter[str] = Counter()
            for m in s["moves"]:
                assert m["from_host"] in s["failed"] and m["to_host"] not in s["failed"]
                moved[m["profile"]] += m["count"]
            assert moved == Counter(s["displaced"])


def test_an_over_committed_live_host_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fleet", "--from-check", "test:///default"])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "over-committed" in result.stderr


def test_a_fleet_file_and_from_check_together_is_bad_input(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "fleet" / "kvm-pool.yaml"
    result = runner.invoke(app, ["fleet", str(example), "--from-check", _host(tmp_path, "a", 0)])
    assert result.exit_code == 2 and "found both" in result.stderr

"""Fleet files through `planner fleet`: guests of existing hosts pinned to NUMA nodes (free capacity
per node follows them), and the host-file keys a fleet has no use for (refused in one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()
PROFILE = "kvm-cloud-2gib-2vcpu"


def _spec(**existing: Any) -> dict[str, Any]:
    """One 2-node host type, nothing to place, and the existing hosts given (name -> guests)."""
    return {
        "host_types": [
            {
                "name": "kvm-64g",
                "host": {
                    "memory": "64GiB",
                    "numa_nodes": 2,
                    "cpus": 32,
                    "kernel": "debian12-amd64",
                    "hypervisor": "kvm-qemu",
                },
            }
        ],
        "existing": [{"name": n, "type": "kvm-64g", "guests": g} for n, g in existing.items()],
        "inventory": [{"profile": PROFILE, "count": 0}],
        "time_limit": 10,
    }


def _invoke(tmp_path: Path, spec: dict[str, Any], *args: str) -> Any:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return runner.invoke(app, ["fleet", str(path), *args])


def _bad(tmp_path: Path, spec: dict[str, Any]) -> str:
    result = _invoke(tmp_path, spec)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert result.stdout == ""
    assert lines[0].startswith(f"planner: error: {tmp_path / 'fleet.yaml'}:")
    return lines[0]


def test_guests_pinned_to_a_node_take_that_nodes_capacity(tmp_path: Path) -> None:
    """Alone on a node, headroom is floor(capacity / demand): 5 guests pinned to node 1 leave node 0
    as on an empty host and node 1 exactly 5 fewer (first fit would have filled node 0)."""
    spec = _spec(pinned={PROFILE: {1: 5}}, empty={})
    spec["existing"][1]["fixed"] = True  # so that consolidation empties the pinned host
    result = _invoke(tmp_path, spec, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    hr = {h["name"]: h["per_node"][PROFILE] for h in d["headroom"]["hosts"]}
    assert hr["pinned"]["0"] == hr["empty"]["0"] > 5
    assert hr["pinned"]["1"] == hr["empty"]["1"] - 5
    # consolidation moves them off node 1, where they are
    assert d["consolidation"]["emptied"] == ["pinned"]
    moves = [m for m in d["consolidation"]["moves"] if m["from_host"] == "pinned"]
    assert moves and {m["from_node"] for m in moves} == {1}
    assert sum(m["count"] for m in moves) == 5


def test_pinned_and_first_fit_guests_mix(tmp_path: Path) -> None:
    """A count is placed first fit on what the pinned guests leave: node 0 first."""
    spec = _spec(mixed={PROFILE: 4}, empty={})
    spec["inventory"].append({"profile": "kvm-cloud-512mib", "count": 0})
    spec["existing"][0]["guests"]["kvm-cloud-512mib"] = {1: 2}
    result = _invoke(tmp_path, spec, "--json")
    assert result.exit_code == 0, result.output
    hr = {h["name"]: h["per_node"][PROFILE] for h in json.loads(result.stdout)["headroom"]["hosts"]}
    assert hr["mixed"]["0"] == hr["empty"]["0"] - 4
    assert hr["mixed"]["1"] < hr["empty"]["1"]


@pytest.mark.parametrize(
    ("guests", "field", "words"),
    [
        ({PROFILE: {2: 1}}, f"existing[0].guests.{PROFILE}.2", "expected a NUMA node index 0..1"),
        ({PROFILE: {"node1": 1}}, f"existing[0].guests.{PROFILE}.node1", "found 'node1'"),
        ({PROFILE: {1: -1}}, f"existing[0].guests.{PROFILE}.1", "found -1"),
        ({PROFILE: [1]}, f"existing[0].guests.{PROFILE}", "or NUMA node index -> count"),
        ({PROFILE: {1: 1000}}, f"existing.h.guests.{PROFILE}.1", "on node 1 than it holds"),
    ],
)
def test_bad_pinning_is_one_line(tmp_path: Path, guests: dict[str, Any], field: str, words: str) -> None:
    msg = _bad(tmp_path, _spec(h=guests))
    assert f": {field}: " in msg and words in msg, msg


@pytest.mark.parametrize(("key", "value"), [("min", 2), ("max", 50), ("weight", 3.0)])
def test_fit_only_keys_in_the_inventory_are_refused(tmp_path: Path, key: str, value: float) -> None:
    """min/max/weight steer fit's most guests on one host; a fleet places exactly count guests."""
    spec = _spec()
    spec["inventory"][0][key] = value
    msg = _bad(tmp_path, spec)
    assert f"inventory[0].{key}: expected no min, max or weight" in msg
    assert f"found {key}: {value!r}" in msg and "exactly count guests" in msg
    line = int(msg.split(":")[3])
    text = (tmp_path / "fleet.yaml").read_text().splitlines()
    assert text[line - 1].strip().startswith(f"{key}:")

"""Input limits and the messages of issue 11: the YAML door's caps, standard input, sizes and
counts that blame the right field, duplicate logs, the host file against libvirt."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InputError
from planner.inputs.hostfile import load_host_file
from planner.inputs.yaml import MAX_ALIAS_NODES, MAX_DEPTH, load_plain, load_yaml, read_text_file
from planner.report.render import csv_cell

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kvm-two-nodes.yaml"
runner = CliRunner()


def yaml_error(text: str) -> str:
    with pytest.raises(InputError) as info:
        load_yaml(text, "t.yaml")
    return str(info.value)


# --- the YAML door --------------------------------------------------------------------------------
def test_aliases_and_merge_keys_within_the_budget_still_work() -> None:
    data, lines = load_yaml("base: &b {x: 1, y: [1, 2]}\nc:\n  <<: *b\n  z: 2\nd: *b\n", "t.yaml")
    assert data["c"] == {"x": 1, "y": [1, 2], "z": 2} and data["d"] == {"x": 1, "y": [1, 2]}
    assert lines[("c", "z")] == 4


def test_the_alias_budget_is_exact() -> None:
    """An anchored list of 99 scalars is 100 nodes; aliased 100 times it produces the budget."""
    assert MAX_ALIAS_NODES == 10_000
    anchor = "a: &a [" + ", ".join(["x"] * 99) + "]\n"
    data, _ = load_yaml(anchor + "b: [" + ", ".join(["*a"] * 100) + "]\n", "t.yaml")
    assert len(data["b"]) == 100
    line = yaml_error(anchor + "b: [" + ", ".join(["*a"] * 101) + "]\n")
    assert (
        line
        == "t.yaml:2: expected aliases that expand to at most 10,000 nodes; found more by *a (an alias bomb?)"
    )


def test_recursive_aliases_are_refused() -> None:
    assert yaml_error("a: &a {b: *a}\n") == (
        "t.yaml:1: expected an alias to a finished anchor; found the recursive alias *a inside &a itself"
    )
    assert "recursive alias *l" in yaml_error("x:\n  - &l\n    - 1\n    - *l\n")


def test_nesting_is_capped_at_its_depth_aliases_expanded() -> None:
    assert MAX_DEPTH == 64
    data, _ = load_yaml("[" * 64 + "]" * 64, "t.yaml")
    assert data is not None
    assert yaml_error("[" * 65 + "]" * 65) == (
        "t.yaml:1: expected lists and mappings nested at most 64 deep; found deeper nesting"
    )
    deep = "a: &a " + "[" * 40 + "]" * 40 + "\n"
    load_yaml(deep + "b: " + "[" * 23 + "*a" + "]" * 23 + "\n", "t.yaml")  # 1 + 23 + 40 = 64
    assert yaml_error(deep + "b: " + "[" * 24 + "*a" + "]" * 24 + "\n").endswith(
        "found deeper nesting through the alias *a"
    )


def test_calibrations_go_through_the_same_door(tmp_path: Path) -> None:
    bomb = (ROOT / "tests" / "data" / "hostile" / "alias-bomb.yaml").read_text()
    with pytest.raises(InputError, match="alias bomb"):
        load_plain(bomb, "c.yaml")
    path = tmp_path / "c.yaml"
    path.write_text(bomb)
    result = runner.invoke(app, ["predict", "--kernel", str(path), "--memory", "128MiB"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"planner: error: {path}:6: expected aliases that expand to at most")
    with path.open("w") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)
    result = runner.invoke(app, ["predict", "--kernel", str(path), "--memory", "128MiB"])
    assert result.stderr == (
        f"planner: error: {path}: expected a calibration file of at most 4 MiB; found a larger one\n"
    )


def test_the_size_cap_is_exact_and_read_no_further(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_bytes(b"x" * 10)
    assert read_text_file(path, "host file", max_bytes=10) == "x" * 10
    path.write_bytes(b"x" * 11)
    with pytest.raises(InputError, match="expected a host file of at most 10 bytes; found a larger one"):
        read_text_file(path, "host file", max_bytes=10)


def test_a_fifo_host_file_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "h.yaml"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["fit", str(fifo)])
    assert result.stderr == f"planner: error: {fifo}: expected a host file (a regular file); found a FIFO\n"


def test_check_reads_its_host_file_from_standard_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")
    profile = tmp_path / "mine.yaml"
    shutil.copyfile(ROOT / "profiles" / "guests" / "kvm-cloud-128mib.yaml", profile)
    text = EXAMPLE.read_text().replace("- profile: kvm-cloud-128mib", "- profile: mine.yaml")
    monkeypatch.chdir(tmp_path)  # a relative profile path in a host file on stdin: from here
    result = runner.invoke(app, ["check", "test:///default", "--host", "-", "--json"], input=text)
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert data["host_file"] == "<stdin>" and "kvm-cloud-128mib" in data["profiles"]


# --- sizes and counts -----------------------------------------------------------------------------
def host(tmp_path: Path, **fields: str) -> Path:
    values = {"memory": "64GiB", "cpus": "32", "kernel": "debian12-amd64", "hypervisor": "kvm-qemu", **fields}
    body = "".join(f"  {k}: {v}\n" for k, v in values.items() if v)
    path = tmp_path / "h.yaml"
    path.write_text(f"host:\n{body}guests:\n  - profile: kvm-cloud-128mib\n")
    return path


def host_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_host_file(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "expected a positive size such as 64GiB; found 0"),
        ("-5", "expected a positive size such as 64GiB; found -5"),
        ("0MiB", "expected a positive size such as 64GiB or 128MiB; found '0MiB'"),
        (
            "68719476736",
            "expected a size with a unit; found 68719476736 (68719476736 bytes = 64GiB: write 64GiB)",
        ),
        ("1048576", "expected a size with a unit; found 1048576 (1048576 bytes = 1MiB: write 1MiB)"),
        ("65536", "expected a size with a unit, such as 65536MiB or 65536KiB; found 65536"),
        ("1000000000000000", "expected a size with a unit, such as 64GiB; found 1000000000000000"),
        ("16PiB", "expected at most 4PiB (the x86-64 physical address limit); found 16 PiB"),
    ],
)
def test_size_messages(tmp_path: Path, value: str, message: str) -> None:
    path = host(tmp_path, memory=value)
    assert host_error(path) == f"{path}:2: host.memory: {message}"


def test_zero_reserves_are_legitimate_and_negative_ones_are_not(tmp_path: Path) -> None:
    spec = load_host_file(host(tmp_path, hypervisor_reserve="0MiB", operator_reserve="0")).host
    assert (spec.hypervisor_reserve_kib, spec.operator_reserve_kib) == (0, 0)
    path = host(tmp_path, operator_reserve="-1MiB")
    assert (
        host_error(path)
        == f"{path}:6: host.operator_reserve: expected 0 or more such as 64GiB or 128MiB; found '-1MiB'"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cpus", "true", "expected a whole number; found True"),
        ("cpus", "1.5", "expected a whole number; found 1.5"),
        ("numa_nodes", "yes", "expected a whole number; found True"),
        ("vcpu_ratio", "true", "expected a number; found True"),
        ("vcpu_ratio", "0.01", "expected a ratio that allows at least one vCPU on the host's 32 CPUs "
         "(at least 0.03125); found 0.01"),
    ],
)  # fmt: skip
def test_absurd_values_name_their_field(tmp_path: Path, key: str, value: str, message: str) -> None:
    path = host(tmp_path, **{key: value})
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(f"{key}:"))
    assert host_error(path) == f"{path}:{line}: host.{key}: {message}"
    load_host_file(host(tmp_path, vcpu_ratio="0.03125"))  # exactly one vCPU: accepted


def test_nodes_too_small_for_every_guest_blame_the_nodes(tmp_path: Path) -> None:
    path = host(tmp_path, memory="", node_memory="[64MiB, 64MiB]")
    result = runner.invoke(app, ["fit", str(path)])
    assert result.stderr == (
        f"planner: error: {path}:5: host.node_memory: expected NUMA nodes that can hold a guest; "
        "found 2 nodes of 64 MiB, smaller than every guest (the smallest is 128 MiB)\n"
    )
    path = host(tmp_path, memory="64MiB")
    assert "host.memory: expected NUMA nodes that can hold a guest; found one node of 64 MiB" in (
        runner.invoke(app, ["fit", str(path)]).stderr
    )
    # one guest that fits, one that does not: the guest is at fault
    path.write_text(host(tmp_path, memory="1GiB").read_text() + "  - profile: kvm-cloud-2gib-2vcpu\n")
    assert "guests[1]" not in runner.invoke(app, ["fit", str(path)]).stderr  # its profile's line
    assert "expected a guest no larger than a NUMA node (1 GiB); found 2 GiB" in (
        runner.invoke(app, ["fit", str(path)]).stderr
    )


def test_predict_judges_vcpus_before_memory() -> None:
    args = ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB"]
    result = runner.invoke(app, [*args, "--vcpus", "8193"])
    assert (
        result.stderr
        == "planner: error: --vcpus: expected at most 8192 (the largest NR_CPUS, x86 MAXSMP); found 8193\n"
    )
    result = runner.invoke(app, [*args, "--possible-cpus", "9000"])
    assert result.stderr.startswith("planner: error: --possible-cpus: expected at most 8192")
    result = runner.invoke(app, ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "5PiB"])
    assert (
        result.stderr
        == "planner: error: --memory: expected at most 4PiB (the x86-64 physical address limit); found 5PiB\n"
    )


# --- calibrate ------------------------------------------------------------------------------------
LOGS = ROOT / "tests" / "data" / "bootlab" / "cloud-amd64"


def test_calibrate_refuses_a_log_given_twice_by_name_or_by_content(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", str(LOGS), str(LOGS), "--name", "x"])
    first = LOGS / json.loads((LOGS / "manifest.json").read_text())["boots"][0]["log"]
    assert result.stderr.startswith(f"planner: error: LOGS: expected each boot log once; found {first} twice")
    assert result.stderr.endswith(f"(given as {LOGS} and again as {LOGS})\n")
    boots = json.loads((LOGS / "manifest.json").read_text())["boots"]
    kept = LOGS / next(b["log"] for b in boots if b["outcome"] == "dump")
    copy = tmp_path / "copy.log"
    shutil.copyfile(kept, copy)
    result = runner.invoke(app, ["calibrate", str(LOGS), str(copy), "--name", "x"])
    assert result.stderr == (
        f"planner: error: LOGS: expected each boot log once; found {copy} (the same bytes as {kept}) "
        f"twice (given as {LOGS} and again as {copy})\n"
    )


@pytest.mark.parametrize("name", ["", " ", "a b", "../x", "x" * 101])
def test_calibrate_refuses_a_name_that_is_no_name(name: str) -> None:
    result = runner.invoke(app, ["calibrate", str(LOGS), "--name", name])
    assert result.exit_code == 2
    assert result.stderr == (
        "planner: error: --name: expected a name of up to 100 letters, digits, . _ - "
        f"(such as debian12-cloud-amd64); found {name!r}\n"
    )


def test_calibrate_writes_only_into_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "no" / "x.yaml"
    result = runner.invoke(app, ["calibrate", str(LOGS), "--name", "x", "-o", str(target)])
    assert result.stderr == (
        "planner: error: --output: expected an existing directory to write the calibration into; "
        f"found no directory {target.parent}\n"
    )
    assert not target.parent.exists()
    result = runner.invoke(app, ["calibrate", str(LOGS), "--name", "x", "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.yaml").read_text().startswith("# planner kernel calibration x")


# --- CSV ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2+cmd|x!A0", "'=1+2+cmd|x!A0"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\u2212 host kernel", "'- host kernel"),
        ("-2", "-2"),
        ("+1.5e3", "+1.5e3"),
        ("web", "web"),
        (-5, -5),
        (0.25, 0.25),
        (None, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: object) -> None:
    assert csv_cell(value) == cell

"""`planner fleet` through the CLI: each question on examples/fleet/kvm-pool.yaml, checked independently
of the solver (guest totals, node fill, moves applied), and bad input (one line, exit 2)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fleet" / "kvm-pool.yaml"
runner = CliRunner()


def _run(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["fleet", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def _guests(host: dict[str, Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    for per_node in host["counts"].values():
        out.update(per_node)
    return out


def test_plan_places_the_inventory_on_the_fewest_cheapest_hosts() -> None:
    d = _run(str(EXAMPLE))
    plan = d["plan"]
    spec = _example()
    expected: Counter[str] = Counter({e["profile"]: e["count"] for e in spec["inventory"]})
    for h in spec["existing"]:
        expected.update(h["guests"])
    placed: Counter[str] = Counter()
    for h in plan["hosts"]:
        placed.update(_guests(h))
        for fill in h["node_fill"].values():
            assert fill["memory_kib"] <= 1.0 + 1e-9, h["name"]
        assert h["host_fill"]["vcpu_count"] <= 1.0 + 1e-9
    assert +placed == +expected
    # the existing hosts cannot hold it all (LP > 0): one new host is needed, the cheapest one
    assert plan["lp_value"] > 0
    assert plan["status"] == "optimal"
    assert plan["hosts_per_type"] == {"kvm-64g": 1}
    assert plan["objective"] == plan["lower_bound"] == 10


def test_headroom_per_host_adds_up_and_is_zero_on_a_full_node() -> None:
    d = _run(str(EXAMPLE))
    hr = d["headroom"]
    for profile, total in hr["total"].items():
        assert total == sum(h["more"][profile] for h in hr["hosts"])
        assert total > 0
    demand = d["profiles"]
    for h in hr["hosts"]:
        for profile, nodes in h["per_node"].items():
            assert sum(nodes.values()) >= h["more"][profile]
            # one more guest than the headroom on a node would not fit: the count is blocked by something
            assert h["blocked_by"][profile]
        assert demand  # demands are reported for every profile


def _apply(spec: dict[str, Any], scenario: dict[str, Any]) -> None:
    """Moves take exactly the failed hosts' guests, to surviving hosts only."""
    existing = {h["name"]: Counter(h["guests"]) for h in spec["existing"]}
    failed = set(scenario["failed"])
    moved: Counter[str] = Counter()
    for m in scenario["moves"]:
        assert m["from_host"] in failed and m["to_host"] not in failed and m["count"] > 0
        moved[m["profile"]] += m["count"]
    displaced: Counter[str] = Counter()
    for name in failed:
        displaced.update(existing[name])
    assert +moved == +displaced == Counter(scenario["displaced"])


@pytest.mark.parametrize("failures", [1, 2])
def test_failover_checks_every_set_of_failed_hosts(failures: int) -> None:
    d = _run(str(EXAMPLE), "--failures", str(failures))
    rep = d["failover"]
    spec = _example()
    n = len(spec["existing"])
    assert rep["failures"] == failures
    assert rep["host_sets"] == rep["host_sets_checked"] == (n if failures == 1 else n * (n - 1) // 2)
    for s in rep["worst"]:
        if s["verdict"] == "survives":
            _apply(spec, s)
        else:
            assert s["unplaced"]
    assert rep["survives"] == all(s["verdict"] == "survives" for s in rep["worst"])
    if not rep["survives"]:
        assert rep["spare_hosts_needed"] >= 1
    # the plan for the inventory survives r failures too (spares added when needed)
    plan = d["plan"]
    assert plan["failures_tolerated"] == failures
    assert plan["failover"]["survives"] is True
    names = {h["name"] for h in plan["hosts"]}
    assert set(plan["spare_hosts"]) <= names


def test_consolidation_moves_every_guest_off_the_emptied_hosts() -> None:
    d = _run(str(EXAMPLE))
    c = d["consolidation"]
    spec = _example()
    existing = {h["name"]: Counter(h["guests"]) for h in spec["existing"]}
    assert c["emptied"], "hv03's 30 small guests fit the others' free memory"
    moved: dict[str, Counter[str]] = {}
    for m in c["moves"]:
        assert m["to_host"] not in c["emptied"]
        moved.setdefault(m["from_host"], Counter())[m["profile"]] += m["count"]
    for name in c["emptied"]:
        assert moved[name] == existing[name]
    assert c["objective"] == len(c["emptied"]) <= c["upper_bound"]


def test_text_output_answers_each_question() -> None:
    result = runner.invoke(app, ["fleet", str(EXAMPLE), "--failures", "1"])
    assert result.exit_code == 0, result.output
    for words in ("Plan:", "Headroom", "N+1:", "Consolidation"):
        assert words in result.stdout


def _bad(tmp_path: Path, edit: Any) -> str:
    spec = _example()
    edit(spec)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = runner.invoke(app, ["fleet", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert result.stdout == ""
    return lines[0]


def test_bad_input_names_file_line_and_field(tmp_path: Path) -> None:
    def wrong_type(s: dict[str, Any]) -> None:
        s["existing"][1]["type"] = "kvm-1t"

    msg = _bad(tmp_path, wrong_type)
    assert "fleet.yaml" in msg and "existing[1].type" in msg and "'kvm-1t'" in msg

    def bad_memory(s: dict[str, Any]) -> None:
        s["host_types"][1]["host"]["memory"] = "lots"

    msg = _bad(tmp_path, bad_memory)
    assert "host_types[1].host.memory" in msg and "lots" in msg

    def bad_count(s: dict[str, Any]) -> None:
        s["inventory"][0]["count"] = -3

    msg = _bad(tmp_path, bad_count)
    assert "inventory[0].count" in msg and "-3" in msg

    def unknown_guest(s: dict[str, Any]) -> None:
        s["existing"][0]["guests"]["kvm-huge"] = 1

    msg = _bad(tmp_path, unknown_guest)
    assert "existing[0].guests.kvm-huge" in msg

    def too_many(s: dict[str, Any]) -> None:
        s["existing"][0]["guests"]["kvm-cloud-2gib-2vcpu"] = 500

    msg = _bad(tmp_path, too_many)
    assert "hv01" in msg and "kvm-cloud-2gib-2vcpu" in msg

    def unknown_key(s: dict[str, Any]) -> None:
        s["hosts"] = []

    assert "hosts" in _bad(tmp_path, unknown_key)


def test_failures_option_is_bounded() -> None:
    result = runner.invoke(app, ["fleet", str(EXAMPLE), "--failures", "3"])
    assert result.exit_code == 2
    assert "--failures" in result.output


@pytest.mark.browser
def test_fleet_report_in_chromium(tmp_path: Path) -> None:
    """The HTML report opened in real headless Chromium (the checks of test_report_browser)."""
    from test_report_browser import CHROMIUM, FLAGS, assert_clean, open_report

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (./setup.sh installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    out = tmp_path / "fleet.html"
    result = runner.invoke(app, ["fleet", str(EXAMPLE), "--failures", "1", "--html", str(out), "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            opened = open_report(context, out)
        finally:
            context.close()
    assert_clean(opened)
    text = opened.text
    for section in ("New hosts per type", "Per-host fill", "Failure scenarios", "What binds", "Headroom"):
        assert section in text
    for h in d["plan"]["hosts"]:
        assert h["name"] in text
    for s in d["failover"]["scenarios"] if "scenarios" in d["failover"] else d["failover"]["worst"]:
        assert ", ".join(s["failed"]) in text
    for constraint in d["plan"]["binding"]:
        assert constraint in text


def test_lp_value_is_labelled_as_the_relaxation_before_spares(tmp_path: Path) -> None:
    """The LP beside the bound says what it is the LP of: the inventory's placement in fractional
    hosts, before the N+r spares that the cost and the bound count (text, HTML and JSON agree)."""
    html = tmp_path / "fleet.html"
    for failures in ("0", "1"):
        args = ["fleet", str(EXAMPLE), "--failures", failures]
        text = runner.invoke(app, args)
        assert text.exit_code == 0, text.output
        d = _run(*args[1:], "--html", str(html))
        plan = d["plan"]
        spares = " before spares" if failures == "1" else ""
        label = f"LP relaxation {plan['lp_value']:.4g}, fractional hosts for the inventory{spares}"
        line = next(ln for ln in text.stdout.splitlines() if ln.startswith("Plan:"))
        assert f"lower bound {plan['lower_bound']:g}; {label})" in line, line
        assert label in html.read_text()
    # with a spare the bound counts it, the LP does not
    assert plan["lower_bound"] > plan["lp_value"] + 10 and plan["spare_hosts"]


def test_held_back_demand_is_in_binary_units(tmp_path: Path) -> None:
    """N+1's held-back demand: KiB under *_kib names in JSON (the largest displaced demand,
    recomputed here from the scenarios), formatted sizes in the text and the HTML report."""
    from planner.units import format_kib

    html = tmp_path / "fleet.html"
    d = _run(str(EXAMPLE), "--failures", "1", "--html", str(html))
    rep, demand = d["failover"], d["profiles"]
    assert rep["host_sets"] == len(rep["worst"])  # every scenario listed: the maximum is over all
    for resource in ("memory_kib", "vcpu_count"):
        most = max(sum(n * demand[p][resource] for p, n in s["displaced"].items()) for s in rep["worst"])
        assert rep["held_back"][resource] == pytest.approx(most)
    memory = format_kib(rep["held_back"]["memory_kib"])
    vcpus = f"{rep['held_back']['vcpu_count']:,.0f} vCPUs"
    text = runner.invoke(app, ["fleet", str(EXAMPLE), "--failures", "1"]).stdout
    line = next(ln for ln in text.splitlines() if "held back" in ln)
    assert line.endswith(f": memory {memory}, {vcpus}"), line
    assert f"{rep['held_back']['memory_kib']:,.0f}" not in line
    assert f"memory {memory}, {vcpus}" in html.read_text()

"""The planner tune report: rendered with StrictUndefined from the result alone, self-contained,
its CSV keys naming their units, and opened in headless Chromium like the other reports."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pytest
from test_report_browser import assert_clean, browser, open_report  # noqa: F401 (browser: a fixture)
from typer.testing import CliRunner

from planner.cli import app
from planner.report import render, tune_page, write_tune_report
from planner.results.tune import TuneReport
from planner.workflows.tune import tune

ROOT = Path(__file__).resolve().parents[1]
TWO_NODES = ROOT / "examples" / "kvm-two-nodes.yaml"

runner = CliRunner()


@pytest.fixture(scope="module")
def profile() -> TuneReport:
    return tune("kvm-cloud-128mib")


@pytest.fixture(scope="module")
def host_file() -> TuneReport:
    return tune(str(TWO_NODES))


def test_template_reads_only_page() -> None:
    from jinja2 import meta

    env = render.environment()
    source = env.loader.get_source(env, "tune.html")[0]
    assert meta.find_undeclared_variables(env.parse(source)) == set()


@pytest.mark.parametrize("which", ["profile", "host_file"])
def test_renders_self_contained(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    result: TuneReport = request.getfixturevalue(which)
    out = tmp_path / "tune.html"
    assert write_tune_report(result, html=out) == [out]
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    refs = re.findall(r"""(?:href|src)\s*=\s*["']([^"']*)|url\(\s*['"]?([^)'"]*)|@import""", html)
    outside = [a or b for a, b in refs if not (a or b).startswith("#") and (a or b) != "data:,"]
    assert not outside, outside
    # guests per host, one waterfall per kernel with changes, one calibration chart per kernel build
    kernels = [k for k in result.kernels if k.steps]
    builds = {k.calibration.name for k in result.kernels}
    assert html.count("<svg") == 1 + len(kernels) + len(builds)
    assert f"{result.baseline.total_guests:,} → {result.combined.total_guests:,}" in html
    for k in result.kernels:
        assert render_escaped(k.tuning.recommendation.cmdline) in html
    assert len(html) < 800 * 1024


def render_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_strict_undefined_fails_on_a_missing_field(profile: TuneReport) -> None:
    import jinja2

    page = tune_page(profile)
    with pytest.raises(jinja2.UndefinedError):
        render.render(dataclasses.replace(page, figures=(object(),)))  # type: ignore[arg-type]


def test_csv_keys_name_their_units_and_carry_the_result(host_file: TuneReport, tmp_path: Path) -> None:
    page = tune_page(host_file)
    for table in page.tables:
        for column in table.columns:
            if column.kind in ("kib_as_mib", "kib"):
                assert column.key == "kib" or column.key.endswith("_kib"), (table.slug, column.key)
    written = write_tune_report(host_file, csv_dir=tmp_path)
    assert {p.name for p in written} == {f"{t.slug}.csv" for t in page.tables}
    host = host_file.host_kernel
    assert host is not None
    with (tmp_path / "k-host-candidates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["option"] for r in rows] == [c.change.label for c in host.tuning.candidates]
    assert [int(r["guests_per_host"]) for r in rows] == [g.total_guests for g in host.gains]


def test_html_and_json_at_once(tmp_path: Path) -> None:
    out = tmp_path / "t.html"
    result = runner.invoke(app, ["tune", "kvm-cloud-128mib", "--json", "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith("{") and out.is_file()
    assert result.stderr == f"wrote {out}\n"


# --- in the browser -------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("target", ["kvm-cloud-128mib", str(TWO_NODES)], ids=["profile", "host-file"])
def test_tune_report_in_chromium(target: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    chromium = request.getfixturevalue("browser")  # test_report_browser's, imported above
    out = tmp_path / "tune.html"
    result = runner.invoke(app, ["tune", target, "--html", str(out)])
    assert result.exit_code == 0, result.output
    opened = open_report(chromium, out)
    assert_clean(opened)
    expected = tune(target)
    before, after = expected.baseline.total_guests, expected.combined.total_guests
    assert f"GUESTS PER HOST\n{before:,} → {after:,}" in opened.text  # labels upper-cased by CSS
    for k in expected.kernels:
        rec = k.tuning.recommendation
        assert rec.cmdline in opened.text
        assert f"{rec.saving_kib:,} KiB" in opened.text
        for c in k.tuning.candidates:
            assert c.change.label in opened.text


# --- a verification, from the committed boots of the same guest -------------------------------------
def _verified(result: TuneReport, off_kib: int = 0) -> TuneReport:
    """``result`` with the boots of tests/data/bootlab/tune/cloud-amd64 (tune00..tune99: the
    variants planner tune --verify booted for kvm-cloud-128mib) compared as --verify does;
    ``off_kib``: the coherent_pool=4K boot's measured MemTotal moved by that much (a
    disagreement no committed boot shows, for the report's sake)."""
    from planner.bootlab.tune import verification_variants
    from planner.evidence import load_evidence
    from planner.kernel.tuning_check import check_change
    from planner.results.tune import BootRow, GuestVerification

    data = ROOT / "tests" / "data" / "bootlab" / "tune" / "cloud-amd64"
    k = result.guests[0]
    assert k.spec is not None
    variants = verification_variants(k.tuning, k.spec)
    logs = {v.label: data / f"128MiB-1cpu-{v.tag}.log" for v in variants}
    base = load_evidence(logs["baseline"])
    checks = []
    for v in variants[1:]:
        check = check_change(k.calibration, base, load_evidence(logs[v.label]))
        if off_kib and v.label == "coherent_pool=4K":
            deltas = tuple(
                dataclasses.replace(d, measured_kib=d.measured_kib + off_kib)
                if d.quantity == "mem_total_kib"
                else d
                for d in check.deltas
            )
            check = dataclasses.replace(check, deltas=deltas)
        checks.append((v.label, check))
    boots = tuple(BootRow(p.name, "dump", 5.0) for p in logs.values())
    verification = GuestVerification(k.name, str(data), "tcg", boots, tuple(checks), ())
    return dataclasses.replace(result, verification=(verification,))


def test_verification_text_and_report(profile: TuneReport, tmp_path: Path) -> None:
    from planner.report.tune_text import tune_text

    result = _verified(profile)
    assert result.verified
    text = tune_text(result)
    assert "verified on real boots: kvm-cloud-128mib (qemu tcg, 6 boots" in text
    assert re.search(r"dhash_entries=1024 +\+120/\+120 +-120/-120 .* 1 of 1 exact +yes", text), text
    out = tmp_path / "verified.html"
    write_tune_report(result, html=out)
    html = out.read_text()
    assert "Verified on real boots: kvm-cloud-128mib" in html and "Every change agrees." in html
    assert result.to_json()["verification"][0]["agrees"] is True


def test_a_disagreeing_change_is_shown(profile: TuneReport) -> None:
    from planner.report.tune_text import tune_text

    result = _verified(profile, off_kib=100)
    assert not result.verified
    assert re.search(r"coherent_pool=4K +\+100/\+0 .* NO", tune_text(result))
    page = tune_page(result)
    assert any(n.style == "warn" for n in page.notices)

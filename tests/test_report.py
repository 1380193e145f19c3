"""HTML and CSV reports: the template context matches the templates, every number comes
from the result, names are escaped, files are written atomically.

The browser half (real headless Chromium) is in test_report_browser.py.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.api import fit, predict_guest
from planner.cli import app
from planner.report import context, fit_page, predict_page, render, write_fit_report, write_predict_report
from planner.report.common import kernel_segments, shown_path
from planner.workflows.fit_report import alone_at

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
HOSTILE = "<script>alert(1)</script>"

runner = CliRunner()


def hostile_host(tmp_path: Path) -> Path:
    """A host file whose guest profile (given by path) and scenario have markup in their names."""
    profile = tmp_path / "evil.yaml"
    profile.write_text(
        textwrap.dedent(
            """\
            name: '<script>alert(1)</script>'
            description: 'a <b>hostile</b> profile $x$ & more'
            kernel: debian12-cloud-amd64
            hypervisors: [kvm-qemu]
            memory: 128MiB
            vcpus: 1
            sources:
              memory: '<img src=x onerror=alert(2)>'
              vcpus: 'one vCPU'
            """
        )
    )
    host = tmp_path / "host.yaml"
    host.write_text(
        textwrap.dedent(
            f"""\
            host:
              memory: 8GiB
              cpus: 4
              kernel: debian12-amd64
              hypervisor: kvm-qemu
            guests:
              - profile: {profile}
              - profile: kvm-cloud-256mib
                max: 3
            scenario:
              name: '<i>$evil$</i>'
              resident: expected
            """
        )
    )
    return host


@pytest.fixture(scope="module")
def two_nodes() -> typing.Any:
    return fit(ROOT / "examples" / "kvm-two-nodes.yaml")


# --- context <-> templates ---------------------------------------------------------------------------
def _template_attributes() -> set[str]:
    """Every attribute name the templates read (``page.title`` -> ``title``)."""
    from jinja2 import nodes

    env = render.environment()
    names: set[str] = set()
    for name in render.template_names():
        source = env.loader.get_source(env, name)[0]
        for node in env.parse(source).find_all(nodes.Getattr):
            names.add(node.attr)
    return names


def _context_classes() -> list[type]:
    return [
        obj
        for obj in vars(context).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == context.__name__
    ]


def test_every_context_field_is_used_by_a_template() -> None:
    """A field no template reads is dead context; a template reading a field that does not
    exist fails under StrictUndefined (the renders below)."""
    used = _template_attributes()
    hints = {"html_rows", "css"}  # properties the templates read instead of raw fields
    unused = []
    for cls in _context_classes():
        for f in dataclasses.fields(cls):
            if f.name not in used:
                unused.append(f"{cls.__name__}.{f.name}")
    # Column.key heads the CSV only; kind and row_styles reach the page through html_rows and css
    allowed = {"Column.key", "Column.kind", "Table.row_styles"}
    assert set(unused) <= allowed, unused
    assert hints <= used


def test_templates_read_only_page() -> None:
    """Each report template gets one variable, ``page``."""
    from jinja2 import meta

    env = render.environment()
    for kind in ("fit", "predict", "check"):
        source = env.loader.get_source(env, f"{kind}.html")[0]
        assert meta.find_undeclared_variables(env.parse(source)) == set()
    base = env.loader.get_source(env, "base.html")[0]
    assert meta.find_undeclared_variables(env.parse(base)) == {"page"}


def test_strict_undefined_fails_on_a_missing_field(two_nodes: typing.Any) -> None:
    import jinja2

    env = render.environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape is True
    page = fit_page(two_nodes)
    broken = dataclasses.replace(page, figures=(object(),))
    with pytest.raises(jinja2.UndefinedError):
        render.render(broken)


# --- fit ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_renders(example: Path, tmp_path: Path) -> None:
    result = fit(example)
    out = tmp_path / "report.html"
    write_fit_report(result, html=out)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert f"{result.guaranteed.total_guests:,}" in html
    # self-contained: every reference points inside the page (#id) or is the empty data: icon
    refs = re.findall(r"""(?:href|src)\s*=\s*["']([^"']*)|url\(\s*['"]?([^)'"]*)|@import""", html)
    outside = [a or b for a, b in refs if not (a or b).startswith("#") and (a or b) != "data:,"]
    assert not outside, outside
    assert "<script" not in html
    assert html.count("<svg") >= 4  # guests, nodes, usable, count + a calibration
    assert len(html) < 600 * 1024, "a chart bloated the page (a dot or circle hatch?)"


def test_fit_tables_carry_the_result(two_nodes: typing.Any, tmp_path: Path) -> None:
    written = write_fit_report(two_nodes, csv_dir=tmp_path / "csv")
    page = fit_page(two_nodes)
    assert sorted(p.name for p in written) == sorted(f"{t.slug}.csv" for t in page.tables)
    with (tmp_path / "csv" / "guests-per-node.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["profile"] == "all profiles"
    assert int(rows[-1]["total_guests"]) == two_nodes.guaranteed.total_guests
    for row in rows[:-1]:
        assert int(row["total_guests"]) == two_nodes.guaranteed.guests[row["profile"]]
        per_node = [int(row[f"node_{n.node_id}_guests"]) for n in two_nodes.guaranteed.nodes]
        assert per_node == [n.guests.get(row["profile"], 0) for n in two_nodes.guaranteed.nodes]
    with (tmp_path / "csv" / "per-guest.csv").open() as handle:
        for row in csv.DictReader(handle):
            pg = two_nodes.per_guest[row["profile"]]
            assert int(row["host_cost_kib"]) == pg.host_cost_kib
            assert int(row["user_available_kib"]) == pg.user_available_kib
    with (tmp_path / "csv" / "inputs.csv").open() as handle:
        inputs = list(csv.DictReader(handle))
    assert inputs[0]["role"] == "host file"
    assert all(len(r["sha256"]) == 64 for r in inputs)


def test_guest_bar_adds_up_to_the_guest(two_nodes: typing.Any) -> None:
    for pg in two_nodes.per_guest.values():
        segments = kernel_segments(pg.kernel_breakdown_kib)
        assert sum(s.kib for s in segments) == pg.guest_memory_kib - pg.mem_available_kib


def test_alone_count_matches_the_solver(tmp_path: Path) -> None:
    """The size sweep's closed form (one profile: per-node floor, vCPU cap) against the MILP."""
    from planner.inputs.hostfile import load_host_file

    for cpus in (64, 4):  # memory binds, then vCPUs bind
        host = tmp_path / f"one-{cpus}.yaml"
        host.write_text(
            f"host: {{memory: 64GiB, numa_nodes: 2, cpus: {cpus}, kernel: debian12-amd64,\n"
            "       hypervisor: kvm-qemu}\n"
            "guests: [{profile: kvm-cloud-256mib}]\n"
        )
        result = fit(host)
        request = load_host_file(host).guests[0]
        pg = result.per_guest["kvm-cloud-256mib"]
        count = alone_at(pg.guest_memory_kib, request, result.guaranteed, load_host_file(host))
        assert count == result.guaranteed.total_guests


def test_markup_in_names_is_escaped(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_fit_report(fit(hostile_host(tmp_path)), html=out)
    html = out.read_text()
    assert "<script" not in html
    assert "<img" not in html
    assert "<i>" not in html and "<b>hostile" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # inside the charts too (matplotlib writes text as escaped XML), and $...$ stays literal
    svg = html[html.index("<svg") :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$evil$" in html


# --- predict --------------------------------------------------------------------------------------
def test_predict_report(tmp_path: Path) -> None:
    result = predict_guest("debian12-cloud-amd64", 131072)
    written = write_predict_report(result, html=tmp_path / "p.html", csv_dir=tmp_path / "csv")
    html = (tmp_path / "p.html").read_text()
    p = result.prediction
    assert f"{p.mem_available_kib:,} KiB" in html
    assert f"{p.mem_total_kib:,} KiB" in html
    for log in result.calibration.logs:
        assert log.sha256 in html
    with (tmp_path / "csv" / "breakdown.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    terms = {r["term"]: int(r["kib"]) for r in rows}
    assert terms["guest RAM"] == 131072
    assert sum(v for k, v in terms.items() if k != "guest RAM") == 131072
    assert len(written) == 1 + len(predict_page(result).tables)


def test_csv_alone_does_not_import_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from planner.api import predict_guest\n"
        "from planner.report import write_predict_report\n"
        "result = predict_guest('debian12-cloud-amd64', 262144)\n"
        f"write_predict_report(result, csv_dir=Path({str(tmp_path)!r}))\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "breakdown.csv").is_file()


# --- CLI and files --------------------------------------------------------------------------------
def test_cli_writes_html_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "plan.html"
    result = runner.invoke(
        app,
        ["fit", str(ROOT / "examples" / "xen-host.yaml"), "--html", str(out), "--csv", str(tmp_path / "t")],
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "t" / "per-guest.csv").is_file()
    assert f"wrote {out}" in result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_cli_predict_json_stays_clean_with_html(tmp_path: Path) -> None:
    import json

    out = tmp_path / "p.html"
    args = ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "256MiB", "--json", "--html", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["memory_kib"] == 262144
    assert out.is_file()


def test_html_into_a_missing_directory_is_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "r.html"
    result = runner.invoke(app, ["fit", str(ROOT / "examples" / "xen-host.yaml"), "--html", str(target)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"planner: error: --html: expected an existing directory to write the HTML report into; "
        f"found no directory {target.parent}"
    )


def test_csv_onto_a_file_is_bad_input(tmp_path: Path) -> None:
    from planner.errors import InputError

    target = tmp_path / "file.txt"
    target.write_text("x")
    result = runner.invoke(
        app, ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB", "--csv", str(target)]
    )
    assert result.exit_code == 2  # refused while the options are read, before the prediction
    assert (
        result.stderr
        == f"planner: error: --csv: expected a directory for the CSV tables; found the file {target}\n"
    )
    page = predict_page(predict_guest("debian12-cloud-amd64", 131072))
    with pytest.raises(InputError) as err:
        render.write(page, csv_dir=target)
    assert str(err.value) == f"--csv: expected a directory for the CSV tables; found the file {target}"
    assert target.read_text() == "x"


def test_write_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    page = predict_page(predict_guest("debian12-cloud-amd64", 131072))
    assert render.write(page, html=out) == [out]
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_table_rows_must_match_columns() -> None:
    with pytest.raises(ValueError, match="has not 2 values"):
        context.Table("t", "T", (context.Column("a", "a"), context.Column("b", "b")), ((1,),))


def test_values_are_formatted_by_kind() -> None:
    assert context.format_value(131072, "kib_as_mib") == "128.0"
    assert context.format_value(69209, "kib") == "69,209"
    assert context.format_value(0.4375, "percent") == "43.8 %"
    assert context.format_value(None, "count") == "–"
    assert context.format_value("<b>", "text") == "<b>"  # escaping is the template's job


# --- check ----------------------------------------------------------------------------------------
LIBVIRT_DATA = ROOT / "tests" / "data" / "libvirt"


def test_check_report_tables_and_escaping(tmp_path: Path) -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")
    from planner.api import check
    from planner.report import check_page, write_check_report

    uris = [f"test://{LIBVIRT_DATA / 'host-mixed.xml'}", f"test://{LIBVIRT_DATA / 'host-overcommitted.xml'}"]
    result = check(uris, profiles=["kvm-cloud-128mib"])
    page = check_page(result)
    over = sum(1 for h in result.hosts for n in h.nodes if n.over_committed)
    assert over > 0
    assert next(f for f in page.figures if f.label == "over-committed nodes").value == str(over)
    written = write_check_report(result, html=tmp_path / "c.html", csv_dir=tmp_path / "csv")
    assert len(written) == 1 + len(page.tables)  # slugs are unique across hosts
    html = (tmp_path / "c.html").read_text()
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;&lt;script&gt;" in html
    with (tmp_path / "csv" / "host-2-nodes.csv").open() as handle:
        nodes = list(csv.DictReader(handle))
    host = result.hosts[1]
    assert [int(r["committed_kib"]) for r in nodes] == [n.committed_kib for n in host.nodes]
    with (tmp_path / "csv" / "host-1-domains.csv").open() as handle:
        domains = {r["name"]: r for r in csv.DictReader(handle)}
    for d in result.hosts[0].domains:
        assert int(domains[d.name]["max_memory_kib"]) == d.max_memory_kib
        assert int(domains[d.name]["committed_kib"]) == d.committed_kib
    with (tmp_path / "csv" / "inputs.csv").open() as handle:
        roles = {r["role"] for r in csv.DictReader(handle)}
    # both calibrations the numbers come from: the host kernel's and the one assumed for the guests
    assert {
        f"kernel calibration {result.hosts[0].host_kernel}",
        "kernel calibration debian12-cloud-amd64",
    } <= roles
    with (tmp_path / "csv" / "sources.csv").open() as handle:
        sources = {(r["name"], r["parameter"]): r["value"] for r in csv.DictReader(handle)}
    assert sources[("kvm-cloud-128mib", "memory")] == "128 MiB"  # the value beside its source


def test_check_report_names_the_host_file(tmp_path: Path) -> None:
    """With --host, the host file is an input and the command that makes the report again has it."""
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")
    from planner.api import check
    from planner.report import check_page

    host_file = LIBVIRT_DATA / "host-mixed-two-nodes.yaml"
    uri = f"test://{LIBVIRT_DATA / 'host-mixed.xml'}"
    result = check([uri], host_path=host_file, profiles=["kvm-cloud-128mib"])
    assert result.profiles == ("kvm-cloud-512mib", "kvm-cloud-128mib")  # the host file's, then --profile's
    provenance = check_page(result).provenance
    assert provenance.command == (
        f"planner check {uri} --host {host_file} --profile kvm-cloud-128mib --html REPORT.html"
    )
    assert provenance.inputs.rows[0][:2] == ("host file", shown_path(host_file))


@pytest.mark.parametrize(
    ("option", "target", "expected"),
    [
        (
            "--html",
            "missing/x.html",
            "expected an existing directory to write the HTML report into; found no directory",
        ),
        ("--html", ".", "expected a file name for the HTML report; found the directory"),
        (
            "--html",
            "/proc/x.html",
            "expected a directory the HTML report can be written into; found /proc, where",
        ),
        ("--csv", "/proc/x", "expected a directory the CSV tables can be written into; found /proc, where"),
        (
            "--csv",
            "file.txt/x",
            "expected an existing directory to write the CSV tables into; found the file",
        ),
    ],
)
def test_output_paths_are_checked_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, target: str, expected: str
) -> None:
    if target.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this machine")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    for args in (
        ["fit", str(ROOT / "examples" / "xen-host.yaml"), "--json", option, target],
        ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB", option, target],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""  # nothing printed, no JSON and then an error
        assert result.stderr.startswith(f"planner: error: {option}: {expected}")
        assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # and nothing written


def _pages() -> list[typing.Any]:
    pages = [fit_page(fit(example)) for example in EXAMPLES]
    return [*pages, predict_page(predict_guest("debian12-cloud-amd64", 131072))]


def test_csv_keys_name_the_unit_of_their_values() -> None:
    """A column the HTML shows as MiB from KiB holds KiB: its key says _kib; one keyed mib holds MiB."""
    from planner.units import KIB_PER_MIB

    checked = 0
    for page in _pages():
        for table in page.tables:
            keys = [c.key for c in table.columns]
            for i, column in enumerate(table.columns):
                if column.kind in ("kib_as_mib", "kib"):
                    assert column.key == "kib" or column.key.endswith("_kib"), (table.slug, column.key)
                if column.key == "mib" or column.key.endswith("_mib"):
                    assert column.kind == "mib", (table.slug, column.key)
                    kib_key = column.key.removesuffix("mib") + "kib"
                    assert kib_key in keys, (table.slug, column.key)
                    for row in table.rows:
                        assert row[i] * KIB_PER_MIB == row[keys.index(kib_key)]
                        checked += 1
    assert checked > 0


def test_csv_row_labels_are_ascii_where_the_html_uses_typography(tmp_path: Path) -> None:
    example = ROOT / "examples" / "kvm-two-nodes.yaml"
    page = fit_page(fit(example))
    nodes = next(t for t in page.tables if t.slug == "node-memory")
    assert any(str(row[0]).startswith("\u2212") for row in nodes.rows)  # the HTML's minus sign
    text = render.csv_text(nodes)
    # ASCII, and neutralised as a spreadsheet would otherwise read a formula (OWASP CSV injection)
    assert "\u2212" not in text and "\n'- host kernel," in text

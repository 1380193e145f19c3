"""Every report, opened in real headless Chromium (Debian's /usr/bin/chromium, driven by
playwright; never a downloaded browser).

Per report: no console error and no page error, no request but the file itself, no
dialog (an injected ``alert`` would open one), the key numbers in the page's text, a
screenshot that is not blank and charts that draw, and the print layout. Markup in names
renders as text.
"""

from __future__ import annotations

import io
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.api import fit, predict_guest
from planner.cli import app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CHROMIUM = Path("/usr/bin/chromium")
#: DESIGN.md "Browser"; playwright adds --headless and its own --user-data-dir handling
#: (launch_persistent_context with a new empty directory)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MARKUP_DOMAIN = '<img src=x onerror="alert(1)">&<script>'  # tests/data/libvirt/host-mixed.xml

runner = CliRunner()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[typing.Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (./setup.sh installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Opened:
    """What one report looked like in the browser."""

    url: str
    text: str
    console_errors: list[str]
    page_errors: list[str]
    requests: list[str]
    dialogs: list[str]
    active_elements: int  #: <script>, <img>, <iframe>, <object>, <embed> in the document
    screenshot: bytes
    chart_screenshots: list[bytes]
    print_screenshot: bytes
    nav_hidden_in_print: bool


def open_report(browser: typing.Any, path: Path) -> Opened:
    page = browser.new_page()
    console: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))

    def on_dialog(dialog: typing.Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        active = page.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length")
        shot = page.screenshot(full_page=True)
        charts = page.locator("figure.chart svg")
        chart_shots = [charts.nth(i).screenshot() for i in range(min(charts.count(), 3))]
        page.emulate_media(media="print")
        nav_hidden = page.locator("nav.toc").is_hidden()
        print_shot = page.screenshot(full_page=True)
    finally:
        page.close()
    return Opened(
        path.as_uri(),
        text,
        console,
        errors,
        requests,
        dialogs,
        active,
        shot,
        chart_shots,
        print_shot,
        nav_hidden,
    )


def _colours(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of pixels that are not white) of a PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24) or []
    white = sum(n for n, c in colours if c == (255, 255, 255))
    total = image.width * image.height
    return len(colours), 1 - white / total


def assert_clean(opened: Opened) -> None:
    assert opened.console_errors == []
    assert opened.page_errors == []
    assert opened.dialogs == []
    assert opened.requests == [opened.url], "the page asked for something besides itself"
    assert opened.active_elements == 0
    colours, inked = _colours(opened.screenshot)
    assert colours > 64 and inked > 0.05, f"blank-looking page: {colours} colours, {inked:.1%} ink"
    assert opened.chart_screenshots, "no chart in the page"
    for png in opened.chart_screenshots:
        colours, inked = _colours(png)
        assert colours > 16 and inked > 0.02, f"a chart did not draw: {colours} colours, {inked:.1%} ink"
    assert opened.nav_hidden_in_print
    colours, inked = _colours(opened.print_screenshot)
    assert colours > 64 and inked > 0.05


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_fit_example_in_chromium(example: Path, browser: typing.Any, tmp_path: Path) -> None:
    out = tmp_path / f"{example.stem}.html"
    result = runner.invoke(app, ["fit", str(example), "--html", str(out)])
    assert result.exit_code == 0, result.output
    opened = open_report(browser, out)
    assert_clean(opened)
    plan = fit(example).to_json()
    assert f"{plan['total_guests']:,}" in opened.text
    for profile, count in plan["guests"].items():
        assert f"{profile}: {count:,} guests" in opened.text
    if plan["scenario"] is not None:
        assert f"{plan['scenario']['total_guests']:,}" in opened.text
    for name in plan["per_guest"]:
        assert name in opened.text


def test_predict_in_chromium(browser: typing.Any, tmp_path: Path) -> None:
    out = tmp_path / "predict.html"
    args = ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB", "--html", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    opened = open_report(browser, out)
    assert_clean(opened)
    expected = predict_guest("debian12-cloud-amd64", 131072).to_json()
    # the headline figure (its label is upper-cased by CSS, as the reader sees it)
    assert f"MEMAVAILABLE\n{expected['mem_available_kib']:,} KiB" in opened.text
    assert f"{expected['mem_total_kib']:,} KiB" in opened.text
    assert f"{expected['kernel_kib']:,} KiB" in opened.text


def test_markup_in_a_profile_name_is_text(browser: typing.Any, tmp_path: Path) -> None:
    from test_report import HOSTILE, hostile_host

    out = tmp_path / "hostile.html"
    result = runner.invoke(app, ["fit", str(hostile_host(tmp_path)), "--html", str(out)])
    assert result.exit_code == 0, result.output
    opened = open_report(browser, out)
    assert_clean(opened)
    assert HOSTILE in opened.text
    assert "<i>$evil$</i>" in opened.text


def test_check_in_chromium(browser: typing.Any, tmp_path: Path) -> None:
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")
    data = ROOT / "tests" / "data" / "libvirt"
    out = tmp_path / "check.html"
    uri = f"test://{data / 'host-mixed.xml'}"
    args = ["check", uri, "--host", str(data / "host-mixed-two-nodes.yaml"), "--profile", "kvm-cloud-128mib"]
    result = runner.invoke(app, [*args, "--html", str(out), "--json"])
    assert out.is_file(), result.output
    import json

    checked = json.loads(result.stdout)["hosts"][0]
    opened = open_report(browser, out)
    assert_clean(opened)
    assert MARKUP_DOMAIN in opened.text
    for domain in checked["domains"]:
        assert domain["name"] in opened.text
    for profile, count in checked["headroom"].items():
        assert f"{count:,} more" in opened.text or f"{profile}\t{count:,}" in opened.text
    assert len(checked["warnings"]) > 0
    for warning in checked["warnings"]:
        assert warning in opened.text

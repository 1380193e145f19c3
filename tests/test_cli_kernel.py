"""`planner calibrate` and `planner predict` from the command line, and their bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

DATA = Path(__file__).parent / "data" / "bootlab"
runner = CliRunner()


def test_predict_json_contract() -> None:
    result = runner.invoke(
        app, ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "512MiB", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["memory_kib"] == 524288
    assert sum(data["breakdown_kib"].values()) + data["mem_available_kib"] == data["memory_kib"]
    for key in (
        "firmware",
        "kernel_image",
        "memmap",
        "hash_tables_early",
        "hash_tables_late",
        "percpu",
        "swiotlb",
        "crashkernel",
        "slab",
        "kernel_stacks",
        "vmalloc",
        "reserves",
    ):
        assert key in data["breakdown_kib"]
    assert data["mem_total_kib"] > data["mem_available_kib"] > 0


def test_predict_text_names_every_term() -> None:
    result = runner.invoke(app, ["predict", "--kernel", "debian12-s390x", "--memory", "64MiB"])
    assert result.exit_code == 0, result.output
    for word in (
        "memmap",
        "hash tables early",
        "slab",
        "reserves",
        "available to user space",
        "MemAvailable",
    ):
        assert word in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "12XB"], "--memory: expected a size such as 128MiB, 2GiB or 65536k; found '12XB'"),
        (["--memory", "-5MiB"], "--memory: expected a positive size such as 64GiB or 128MiB; found '-5MiB'"),
        (["--memory", "64GiB", "--strict"], "outside the calibrated range"),
        (["--memory", "512MiB", "--machine", "s390-ccw-virtio"], "expected machine pc or q35 for x86_64"),
        (["--memory", "512MiB", "--cmdline", "crashkernel=lots"], "crashkernel="),
    ],
)
def test_predict_bad_input(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["predict", "--kernel", "debian12-cloud-amd64", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_unknown_kernel_lists_shipped() -> None:
    result = runner.invoke(app, ["predict", "--kernel", "nope", "--memory", "128MiB"])
    assert result.exit_code == 2
    assert "debian12-cloud-amd64" in result.stderr and "debian12-s390x" in result.stderr


def test_predict_warns_outside_range() -> None:
    result = runner.invoke(app, ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "32GiB"])
    assert result.exit_code == 0
    assert "planner: warning:" in result.stderr and "outside the calibrated range" in result.stderr


def test_calibrate_writes_yaml_and_prints_residuals(tmp_path: Path) -> None:
    out = tmp_path / "k.yaml"
    result = runner.invoke(app, ["calibrate", str(DATA / "s390x"), "--name", "my-s390x", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "MemAvailable" in result.stdout and "resid" in result.stdout
    assert out.exists()
    again = runner.invoke(app, ["predict", "--kernel", str(out), "--memory", "128MiB", "--json"])
    assert json.loads(again.stdout)["calibration"] == "my-s390x"


def test_calibrate_mixed_builds_refused(tmp_path: Path) -> None:
    out = tmp_path / "mixed.yaml"
    logs = [
        str(DATA / "cloud-amd64" / "128MiB-1cpu.log"),
        str(DATA / "amd64" / "512MiB-1cpu.log"),
        str(DATA / "cloud-amd64" / "1GiB-1cpu.log"),
    ]
    result = runner.invoke(app, ["calibrate", *logs, "--name", "x", "-o", str(out)])
    assert result.exit_code == 2
    assert "expected logs of one kernel build" in result.stderr
    assert not out.exists()


def test_calibrate_too_few_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", str(DATA / "cloud-amd64" / "128MiB-1cpu.log"), "--name", "x"])
    assert result.exit_code == 2
    assert "expected at least 3 boots" in result.stderr


def test_calibrate_garbage_and_truncated(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(os.urandom(4096))
    result = runner.invoke(app, ["calibrate", str(garbage), "--name", "x"])
    assert result.exit_code == 2 and "garbage.log" in result.stderr and "Traceback" not in result.output
    text = (DATA / "cloud-amd64" / "128MiB-1cpu.log").read_text(errors="replace")
    cut = tmp_path / "cut.log"
    cut.write_text(text[: text.index("Memory:") - 20])
    result = runner.invoke(app, ["calibrate", str(cut), "--name", "x"])
    assert result.exit_code == 2
    assert "Memory:" in result.stderr


def test_predict_cold_start_is_lazy() -> None:
    # imports that predict must not pay for (timings are in benchmarks/; this checks the mechanism)
    heavy = "('scipy', 'matplotlib', 'libvirt', 'jinja2')"
    code = f"import sys, planner.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_console_script_runs() -> None:
    exe = Path(sys.executable).parent / "planner"
    proc = subprocess.run(
        [str(exe), "predict", "--kernel", "debian12-amd64", "--memory", "1GiB", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["memory_kib"] == 1048576

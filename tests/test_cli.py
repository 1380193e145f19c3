"""The command line: every command has help that teaches, errors are one line with exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from planner.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("planner ")


def test_every_command_has_help() -> None:
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert len(result.stdout) > 200, f"{name} --help is too thin"


def test_a_non_utf8_host_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"# gr\xf6\xdfe\nhost:\n  memory: 4GiB\n")
    for args in (["fit", str(path)], ["check", "test:///default", "--host", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert result.stderr == (
            f"planner: error: {path}:1: expected a host file in UTF-8; found byte 0xf6, which is not "
            "UTF-8 (a binary file, or text saved as Latin-1?)\n"
        )


USAGE_ERRORS = [
    (
        ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB", "--vcpus", "0"],
        "--vcpus: expected a whole number >= 1; found '0'",
    ),
    (
        ["predict", "--kernel", "debian12-cloud-amd64", "--memory", "128MiB", "--vcpus", "two"],
        "--vcpus: expected a whole number; found 'two'",
    ),
    (["predict", "--memory", "128MiB"], "--kernel: expected a value (a required option; see planner predict"),
    (["predict", "--kernel"], "--kernel: expected a value after it; found none"),
    (["fit"], "HOST_FILE: expected a value (a required argument; see planner fit --help); found none"),
    (
        ["fit", "h.yaml", "--bogus"],
        "--bogus: expected an option of planner fit (--csv, --help, --html, --json)",
    ),
    (
        ["fitt"],
        "COMMAND: expected one of bootlab, calibrate, calibrate-host, check, density, fetch, fit, fleet, "
        "predict, profiles, schema, tune; ",
    ),
    (
        ["fit", "a.yaml", "b.yaml"],
        "planner fit: expected fewer arguments (see planner fit --help); found the",
    ),
    (["check", "test:///default", "--host", "."], "--host: expected a file; found the directory '.'"),
    (
        ["fit", "h.yaml", "--html", "."],
        "--html: expected a file name for the HTML report; found the directory .",
    ),
]


@pytest.mark.parametrize(
    ("args", "line"), USAGE_ERRORS, ids=lambda a: " ".join(a) if isinstance(a, list) else ""
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"planner: error: {line}")
    assert result.stderr.count("\n") == 1, result.stderr


def test_the_console_script_prints_the_same_usage_errors() -> None:
    """The installed `planner` script (main()) and CliRunner go through the same group."""
    script = Path(sys.executable).parent / "planner"
    if not script.is_file():
        pytest.skip(f"no console script beside {sys.executable}; install the package (pip install -e .)")
    for args, _ in USAGE_ERRORS[:1] + USAGE_ERRORS[5:7]:
        done = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, check=False)
        inline = runner.invoke(app, args)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", inline.stderr)
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("Usage: planner")

"""The command line: every command has help that teaches, errors are one line with exit code 2."""

from pathlib import Path

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

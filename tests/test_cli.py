"""The command line: every command has help that teaches, errors are one line with exit code 2."""

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

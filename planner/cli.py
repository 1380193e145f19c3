"""The ``planner`` command line: options -> one library call -> format -> exit code.

Exit codes (the only place they are decided):
0 ok; 1 a check found a problem (over-committed or unreachable host);
2 bad input (:class:`planner.errors.InputError` and subclasses, usage errors);
3 any other planner error. Anything else is a bug and keeps its traceback.

Heavy modules (scipy, jinja2, libvirt, matplotlib) are imported inside the
command that needs them, so ``planner predict`` starts fast.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from planner import __version__
from planner.errors import PlannerError

app = typer.Typer(
    name="planner",
    help=(
        "Guest-density capacity planner: how many guests fit on a host, and where every MiB goes.\n\n"
        "Typical flow: `planner bootlab` boots a kernel under qemu at several sizes, `planner calibrate` "
        "fits the kernel memory model to those logs, `planner predict` shows a guest's memory at any size, "
        "`planner fit host.yaml` packs guest profiles onto a host, `planner check URI` holds the plan "
        "against a live libvirt host."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# --- shared options, defined once -------------------------------------------------------------
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object for scripts instead of text.")
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML report to this file.", dir_okay=False),
]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv", help="Also write the report's tables as CSV files into this directory.", file_okay=False
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    typer.echo(f"planner: warning: {message}", err=True)


def handle_errors(func: F) -> F:
    """Map planner errors to one line on stderr and an exit code; show warnings as one line each."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            return func(*args, **kwargs)
        except PlannerError as err:
            typer.echo(f"planner: error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None
        finally:
            warnings.showwarning = previous

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print one JSON document (sorted keys, indented) to stdout."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"planner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Guest-density capacity planner."""


def main() -> None:
    """Console-script entry point."""
    app(prog_name="planner")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)

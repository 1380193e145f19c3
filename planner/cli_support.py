"""What every ``planner`` command shares: usage errors, the error handler, output, options.

:class:`PlannerGroup` is the typer group of :mod:`planner.cli`; it turns click's usage
errors (missing or unknown options, bad values, path checks) into one line, ``planner:
error: --vcpus: expected a whole number >= 1; found '0'``, exit code 2, for the console
script and for ``CliRunner`` alike. :func:`handle_errors` maps planner errors to one line and
their exit code; :func:`emit` prints a result and writes its report; ``--json``, ``--html``
and ``--csv`` are defined once here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer
from typer.core import TyperGroup

from planner.errors import OutOfRangeWarning, PlannerError

if TYPE_CHECKING:  # the boot lab is loaded only by the commands that boot
    from planner.bootlab.boots import BootRecord


def _click_exceptions() -> Any:
    """Click's exception classes: vendored by typer (0.2x), else click's own."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - typer before it vendored click
        return importlib.import_module("click.exceptions")


def _param_name(param: Any) -> str:
    """How the user writes a parameter: its long option (``--vcpus``), or an argument's name."""
    opts: list[str] = [str(o) for o in getattr(param, "opts", []) or [] if str(o).startswith("-")]
    if opts:
        return max(opts, key=len)
    return str(getattr(param, "name", None) or "argument").upper()


#: typer's path checks (``File 'x' is a directory.``) -> (expected, found)
_PATH_PROBLEMS = {
    "is a directory": ("a file", "the directory {loc}"),
    "is a file": ("a directory", "the file {loc}"),
    "does not exist": ("an existing {label}", "no {label} {loc}"),
    "is not readable": ("a readable {label}", "{loc}, which is not readable"),
    "is not writable": ("a writable {label}", "{loc}, which is not writable"),
}


def _bad_value(err: Any) -> str:
    """``expected ...; found ...`` for a value that typer's conversion or checks refused."""
    import re

    from pydantic import ValidationError

    cause = err.__cause__
    if isinstance(cause, ValidationError):
        first = cause.errors()[0]
        kind, ctx, found = first["type"], first.get("ctx", {}), first.get("input")
        number = "a whole number" if any(isinstance(v, int) for v in ctx.values()) else "a number"
        bounds = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }
        if kind in bounds:
            expected = f"{number} {bounds[kind]} {next(iter(ctx.values()))}"
        elif kind.startswith("int_"):
            expected = "a whole number"
        elif kind.startswith("float_"):
            expected = "a number"
        elif kind.startswith("bool_"):
            expected = "true or false"
        else:
            expected = re.sub(r"^Input should be ", "", str(first["msg"]))
        return f"expected {expected}; found {found!r}"
    if "expected" in str(err.message):  # our own callbacks' messages say it already
        return str(err.message)
    message = str(err.message).removesuffix(".")
    m = re.fullmatch(r"(\w+) ('.*') (" + "|".join(_PATH_PROBLEMS) + ")", message)
    if m:
        label = {"dir": "directory"}.get(m.group(1).lower(), m.group(1).lower())
        expected, found = _PATH_PROBLEMS[m.group(3)]
        return f"expected {expected.format(label=label)}; found {found.format(label=label, loc=m.group(2))}"
    return f"expected a valid value; found {message}"


def usage_error_line(err: Any) -> str:
    """A click usage error as one line: ``<option>: <what was expected>; found <what>``."""
    import re

    exc = _click_exceptions()
    ctx = err.ctx
    command = ctx.command_path if ctx is not None else "planner"
    message = str(err.message)
    param = getattr(err, "param", None)
    if isinstance(err, exc.MissingParameter) and param is not None:
        kind = "option" if getattr(param, "opts", None) and param.opts[0].startswith("-") else "argument"
        return f"{_param_name(param)}: expected a value (a required {kind}; see {command} --help); found none"
    if isinstance(err, exc.BadParameter) and param is not None:
        return f"{_param_name(param)}: {_bad_value(err)}"
    if isinstance(err, exc.NoSuchOption):
        known = sorted(
            {o for p in (ctx.command.get_params(ctx) if ctx else []) for o in p.opts if o[:1] == "-"}
        )
        hint = f" (did you mean {', '.join(sorted(err.possibilities))}?)" if err.possibilities else ""
        return (
            f"{err.option_name}: expected an option of {command} ({', '.join(known)}); "
            f"found an unknown option{hint}"
        )
    if isinstance(err, exc.BadOptionUsage) and "requires an argument" in message:
        return f"{err.option_name}: expected a value after it; found none"
    m = re.match(r"No such command '(.*?)'\.(?: Did you mean '(.*?)'\?)?$", message)
    if m and ctx is not None:
        names = ", ".join(sorted(ctx.command.list_commands(ctx)))
        hint = f" (did you mean {m.group(2)}?)" if m.group(2) else ""
        return f"COMMAND: expected one of {names}; found {m.group(1)!r}{hint}"
    m = re.match(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)$", message)
    if m:
        return f"{command}: expected fewer arguments (see {command} --help); found the extra {m.group(1)}"
    return f"{command}: {message}"


class PlannerGroup(TyperGroup):
    """The ``planner`` group: usage errors are one line (``planner: error: --vcpus: expected a
    whole number >= 1; found '0'``) and exit code 2, for the console script and for
    ``CliRunner`` alike (both call :meth:`main`)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        run = functools.partial(
            super().main, args, prog_name, complete_var, windows_expand_args=windows_expand_args, **extra
        )
        if not standalone_mode:
            return run(standalone_mode=False)
        exc = _click_exceptions()
        try:
            code = run(standalone_mode=False)
        except exc.NoArgsIsHelpError as err:  # bare `planner`: the help, as click shows it
            err.show()
            sys.exit(err.exit_code)
        except exc.UsageError as err:
            typer.echo(f"planner: error: {usage_error_line(err)}", err=True)
            sys.exit(2)
        except exc.ClickException as err:
            typer.echo(f"planner: error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("planner: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# --- shared options, defined once -------------------------------------------------------------
class MissingExtraError(_click_exceptions().ClickException):  # type: ignore[misc]
    """An option that needs an optional dependency that is not installed: exit code 3 (a
    planner error, as ``planner check`` without libvirt-python), not 2: the input is fine."""

    exit_code = 3


def _output_checked(check: str, *, html: bool = False) -> Callable[[Path | None], Path | None]:
    """An option callback that refuses an output path the report could not be written to, while
    the options are read: before any work, and before anything is printed. ``--html`` also
    needs matplotlib (the ``report`` extra), asked for here rather than after the work."""

    def callback(value: Path | None) -> Path | None:
        if value is None:
            return None
        from planner.errors import InputError, PlannerError
        from planner.report import charts, render

        if html:
            try:
                charts.require_matplotlib()
            except PlannerError as err:
                raise MissingExtraError(f"--html: {err}") from None
        try:
            return getattr(render, check)(value)  # type: ignore[no-any-return]
        except InputError as err:
            raise typer.BadParameter(err.message) from None

    return callback


def output_file_checked(option: str, what: str) -> Callable[[Path | None], Path | None]:
    """An option callback for an output file that is not a report (``calibrate -o``): the same
    rule (:mod:`planner.files`) while the options are read."""

    def callback(value: Path | None) -> Path | None:
        if value is None:
            return None
        from planner.errors import InputError
        from planner.files import check_output_file

        try:
            return check_output_file(value, option=option, what=what)
        except InputError as err:
            raise typer.BadParameter(err.message) from None

    return callback


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object for scripts instead of text.")
]
HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        help="Also write a self-contained HTML report to this file.",
        callback=_output_checked("check_html_target", html=True),
    ),
]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        help="Also write the report's tables as CSV files into this directory.",
        callback=_output_checked("check_csv_target"),
    ),
]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", bound="Result")


class Result(Protocol):
    """What every workflow returns (:mod:`planner.results`)."""

    def to_json(self) -> dict[str, Any]: ...


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    typer.echo(f"planner: warning: {message}", err=True)


def handle_errors(func: F) -> F:
    """Map planner errors to one line on stderr and an exit code; show warnings as one line each."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("always", OutOfRangeWarning)  # every time, not once per process
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except PlannerError as err:
                typer.echo(f"planner: error: {err}", err=True)
                raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print one JSON document (sorted keys, indented) to stdout."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def emit(
    result: R,
    text: Callable[[R], str],
    *,
    json_out: bool,
    report: str | None = None,
    html: Path | None = None,
    csv: Path | None = None,
) -> None:
    """Print a result (its JSON, or its ``text``) and write its report (``fit``, ``predict``,
    ``check``) as HTML and/or CSV when asked; the files written are named on stderr. The
    report is rendered and its targets checked (never one of the result's input files)
    before anything is printed, so a refused target leaves stdout empty."""
    pending = None
    if report and (html or csv):
        from planner import report as reports

        pending = getattr(reports, f"prepare_{report}_report")(result, html=html, csv_dir=csv)
    if json_out:
        print_json(result.to_json())
    else:
        typer.echo(text(result))
    if pending is not None:
        for path in pending.write():
            typer.echo(f"wrote {path}", err=True)


@contextlib.contextmanager
def boot_progress(
    show: bool | None, length: int, *, bar: bool = True
) -> Iterator[Callable[[BootRecord], None]]:
    """What ``planner bootlab`` and ``planner tune --verify`` call after each boot: a progress bar
    of ``length`` boots on a terminal (``show`` None: when stderr is one; ``bar`` False: never),
    else one line per boot when ``show``, else nothing."""
    show = sys.stderr.isatty() if show is None else show
    if show and bar and sys.stderr.isatty():
        with typer.progressbar(length=length, file=sys.stderr) as progress:
            yield lambda record: progress.update(1)
        return

    def line(record: BootRecord) -> None:
        if show:
            typer.echo(f"{record.log} {record.outcome} {record.boot_wall_s:.1f} s", err=True)

    yield line


BootAccel = Annotated[
    str, typer.Option("--accel", help="tcg | kvm | auto (KVM only if a short probe boot works).")
]
BootJobs = Annotated[int | None, typer.Option("--jobs", help="Boots at once; default: cores.")]
BootProgress = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: on a tty).")
]

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from planner import __version__
from planner.errors import OutOfRangeWarning, PlannerError


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


app = typer.Typer(
    cls=PlannerGroup,
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
def _output_checked(check: str) -> Callable[[Path | None], Path | None]:
    """An option callback that refuses an output path the report could not be written to, while
    the options are read: before any work, and before anything is printed."""

    def callback(value: Path | None) -> Path | None:
        if value is None:
            return None
        from planner.errors import InputError
        from planner.report import render

        try:
            return getattr(render, check)(value)  # type: ignore[no-any-return]
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
        callback=_output_checked("check_html_target"),
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
    result: Any,
    *,
    json_out: bool,
    report: str | None = None,
    html: Path | None = None,
    csv: Path | None = None,
) -> None:
    """Print a result (``to_json()`` or ``to_text()``) and write its report (``fit``, ``predict``,
    ``check``) as HTML and/or CSV when asked; the files written are named on stderr."""
    if json_out:
        print_json(result.to_json())
    else:
        typer.echo(result.to_text())
    if report and (html or csv):
        from planner import report as reports

        writer = getattr(reports, f"write_{report}_report")
        for path in writer(result, html=html, csv_dir=csv):
            typer.echo(f"wrote {path}", err=True)


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


def _comma_list(text: str, parse: Callable[[str], Any], field: str) -> list[Any]:
    from planner.errors import InputError

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"expected a comma-separated list; found {text!r}", field=field)
    return [parse(t) for t in items]


def _positive_int(text: str, field: str = "--vcpus") -> int:
    from planner.errors import InputError

    if not text.isdigit() or int(text) < 1:
        raise InputError(f"expected a positive whole number; found {text!r}", field=field)
    return int(text)


@app.command()
@handle_errors
def bootlab(
    kernel: Annotated[
        str, typer.Option("--kernel", help="A vmlinuz path, or a Debian package (linux-image-s390x:s390x).")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Directory for one log per boot + manifest.json.")
    ],
    memory: Annotated[
        str, typer.Option("--memory", help="Guest sizes, comma-separated (128MiB,512MiB,2GiB).")
    ] = "128MiB",
    vcpus: Annotated[str, typer.Option("--vcpus", help="vCPU counts, comma-separated.")] = "1",
    numa_nodes: Annotated[
        str, typer.Option("--numa-nodes", help="NUMA node counts (qemu -numa, x86_64), comma-separated.")
    ] = "1",
    arch: Annotated[
        str | None, typer.Option("--arch", help="x86_64 or s390x; default: the kernel image's.")
    ] = None,
    machine: Annotated[
        str | None, typer.Option("--machine", help="pc | q35 (x86_64), s390-ccw-virtio (s390x).")
    ] = None,
    cmdline: Annotated[
        str,
        typer.Option("--cmdline", help="Kernel arguments; console= and panic=-1 are always added."),
    ] = "loglevel=8 log_buf_len=1M",
    tag: Annotated[str, typer.Option("--tag", help="Suffix for log names (512MiB-1cpu-TAG.log).")] = "",
    find_min: Annotated[
        bool,
        typer.Option(
            "--find-min", help="Bisect between the smallest and largest --memory for the smallest that boots."
        ),
    ] = False,
    step: Annotated[str, typer.Option("--step", help="--find-min resolution.")] = "2MiB",
    accel: Annotated[
        str, typer.Option("--accel", help="tcg | kvm | auto (KVM only if a short probe boot works).")
    ] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before a boot is killed.")] = 300.0,
    jobs: Annotated[int | None, typer.Option("--jobs", help="Boots at once; default: cores.")] = None,
    busybox: Annotated[
        Path | None, typer.Option("--busybox", help="Static busybox; default Debian busybox-static.")
    ] = None,
    allow_system_changes: Annotated[
        bool,
        typer.Option("--allow-system-changes", help="May run dpkg --add-architecture for s390x packages."),
    ] = False,
    calibrate: Annotated[
        str | None,
        typer.Option(
            "--calibrate", help="Then calibrate all logs in OUTPUT into ./profiles/kernels/NAME.yaml."
        ),
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: on a tty).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Boot a real kernel under qemu at each size and capture its memory evidence.

    Each boot's console log (dmesg, /proc/meminfo, slabinfo, zoneinfo, vmstat, iomem, ...)
    is written to OUTPUT/<size>-<n>cpu.log and listed in OUTPUT/manifest.json with the
    qemu command, wall time and outcome: dump, oom-panic, panic, silent-reset,
    truncated-dump, timeout or qemu-error. Exit code 1 if a boot timed out or qemu failed.
    """
    import contextlib
    import re

    from planner.bootlab import campaign
    from planner.errors import InputError
    from planner.evidence.bundle import MANIFEST_NAME
    from planner.units import parse_size_kib

    if accel not in ("auto", "tcg", "kvm"):
        raise InputError(f"expected auto, tcg or kvm; found {accel!r}", field="--accel")
    if calibrate is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", calibrate):
        raise InputError(
            f"expected a file name (letters, digits, . _ -); found {calibrate!r}", field="--calibrate"
        )
    sizes = _comma_list(memory, lambda t: parse_size_kib(t, field="--memory"), "--memory")
    counts = _comma_list(vcpus, _positive_int, "--vcpus")
    nodes = _comma_list(numa_nodes, lambda t: _positive_int(t, "--numa-nodes"), "--numa-nodes")
    show = sys.stderr.isatty() if progress is None else progress
    with contextlib.ExitStack() as stack:
        bar = None
        if show and not find_min and sys.stderr.isatty():
            bar = stack.enter_context(
                typer.progressbar(length=len(sizes) * len(counts) * len(nodes), file=sys.stderr)
            )

        def tick(record: campaign.BootRecord) -> None:
            if bar is not None:
                bar.update(1)
            elif show:
                typer.echo(f"{record.log} {record.outcome} {record.boot_wall_s:.1f} s", err=True)

        try:
            result = campaign.run_campaign(
                kernel, output, memory_kib=sizes, vcpu_counts=counts, node_counts=nodes, arch=arch,
                machine=machine, cmdline=cmdline, tag=tag, accel=accel, timeout_s=timeout, jobs=jobs,  # type: ignore[arg-type]
                find_min_step_kib=parse_size_kib(step, field="--step") if find_min else None,
                busybox=busybox, allow_system_changes=allow_system_changes, progress=tick,
            )  # fmt: skip
        except KeyboardInterrupt:
            manifest = output / MANIFEST_NAME
            done = f"{manifest} lists the finished boots" if manifest.is_file() else "no boot had finished"
            typer.echo(f"planner: interrupted; qemu killed; {done}", err=True)
            raise typer.Exit(130) from None
    calibrated = None
    if calibrate is not None:
        from planner.api import calibrate_logs

        cal_path = Path("profiles") / "kernels" / f"{calibrate}.yaml"
        calibrated = calibrate_logs([output], name=calibrate, output=cal_path)
    if json_out:
        print_json(result.to_json() | ({"calibration": calibrated.to_json()} if calibrated else {}))
    else:
        typer.echo("\n".join([result.to_text()] + ([calibrated.to_text()] if calibrated else [])))
    if result.failed_to_run:
        names = ", ".join(f"{r.log} ({r.outcome})" for r in result.failed_to_run)
        typer.echo(f"planner: error: boots that did not finish: {names}; no qemu is left running", err=True)
        raise typer.Exit(1)


@app.command()
@handle_errors
def fetch(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
    allow_system_changes: Annotated[
        bool,
        typer.Option(
            "--allow-system-changes", help="May run dpkg --add-architecture s390x + apt-get update."
        ),
    ] = False,
) -> None:
    """Download and cache the Debian kernels and static busyboxes that `planner bootlab` boots.

    linux-image-cloud-amd64, linux-image-amd64, linux-image-s390x:s390x, busybox-static
    (amd64 and s390x), with apt-get download + dpkg-deb -x into
    ${PLANNER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/planner}; nothing is installed.
    """
    from planner.bootlab.fetch import fetch_all

    for pkg in fetch_all(allow_system_changes=allow_system_changes):
        if not quiet:
            typer.echo(f"{pkg.requested:<26} {pkg.package} {pkg.version} ({pkg.deb_arch}) -> {pkg.root}")


@app.command()
@handle_errors
def fit(
    host_file: Annotated[Path, typer.Argument(help="Host file (YAML); see `planner schema` and examples/.")],
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
) -> None:
    """Pack guest profiles onto a host: how many fit per NUMA node, and what binds.

    Per guest: its size (or `memory: auto`, the smallest that fits its workload), what its
    kernel keeps (kernel model), its host cost (guest RAM + hypervisor overhead). Per node:
    RAM minus the host kernel's own overhead, hypervisor and operator reserves. An integer
    program (scipy milp) maximises guests (or weight) under memory per node, vCPU ratio and
    min/max counts. A `scenario:` (KSM, ballooning, ratio) is planned beside the guaranteed
    count, never in its place. Example: planner fit examples/kvm-two-nodes.yaml
    """
    from planner.api import fit as fit_host

    result = fit_host(host_file)
    emit(result, json_out=json_out, report="fit", html=html, csv=csv)


@app.command()
@handle_errors
def profiles(json_out: JsonOption = False) -> None:
    """List kernel calibrations, hypervisor profiles and guest profiles, one line each.

    Use the names in a host file: host.kernel (a kernel calibration), host.hypervisor
    (a hypervisor profile) and guests[].profile (a guest profile). Profiles ship in the
    package (profiles/kernels, profiles/hypervisors, profiles/guests); every number in
    them names its source.
    """
    from planner.api import profiles as list_profiles

    emit(list_profiles(), json_out=json_out)


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON schema of a host file (for editors and validators).

    The schema documents every field of a host file: host (memory, numa_nodes,
    node_memory, cpus, kernel, hypervisor, reserves, vcpu_ratio, hugepages), guests
    (profile, min, max, weight, memory, vcpus, workload, hugepages), objective and
    scenario. Sizes are strings with a binary unit (64GiB, 128MiB, 65536k).
    """
    from planner.api import host_schema

    print_json(host_schema())


@app.command()
@handle_errors
def calibrate(
    logs: Annotated[
        list[Path],
        typer.Argument(
            help="Boot logs: console captures with '==== NAME' sections, directories of dmesg/meminfo/... "
            "files, bare dmesg files, or bootlab output directories (all boots in their manifest.json).",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Name of the calibration, e.g. debian12-cloud-amd64.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the calibration YAML here (atomically).", dir_okay=False),
    ] = None,
    description: Annotated[
        str, typer.Option(help="One-line description (default: derived from the logs).")
    ] = "",
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Allow a single boot size (RAM-dependent constants are left at 0)."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Fit the kernel memory model to real boot logs of ONE kernel build.

    Prints, per log, measured and modelled MemTotal and MemAvailable with the
    residuals (model - measured, KiB). Refuses logs that mix kernel builds or
    architectures, and too few logs to fit (at least 3 boots with /proc/meminfo at
    2 or more sizes, unless --partial).

    Example: planner calibrate tests/data/bootlab/cloud-amd64 --name my-cloud -o my-cloud.yaml
    """
    from planner.api import calibrate_logs

    result = calibrate_logs(logs, name=name, output=output, description=description, partial=partial)
    emit(result, json_out=json_out)


@app.command()
@handle_errors
def predict(
    kernel: Annotated[
        str,
        typer.Option(
            "--kernel", help="A shipped calibration name (see `planner profiles`) or a calibration YAML file."
        ),
    ],
    memory: Annotated[str, typer.Option("--memory", help="Guest RAM: 128MiB, 512M, 2GiB, 65536k ...")],
    vcpus: Annotated[int, typer.Option("--vcpus", min=1, help="Online vCPUs.")] = 1,
    possible_cpus: Annotated[
        int | None,
        typer.Option("--possible-cpus", min=1, help="CPUs the kernel sizes per-CPU data for (qemu maxcpus)."),
    ] = None,
    cmdline: Annotated[
        str,
        typer.Option(
            "--cmdline",
            help="Guest kernel command line; crashkernel=, swiotlb=, mem=, log_buf_len=, *hash_entries=, "
            "transparent_hugepage= and nr_cpus= change the result.",
        ),
    ] = "",
    machine: Annotated[
        str | None, typer.Option("--machine", help="pc, q35 (x86_64) or s390-ccw-virtio, zvm (s390x).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse sizes and vCPU counts outside the calibrated range.")
    ] = False,
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
) -> None:
    """Show where every KiB of a guest goes, and what is left for user space.

    Terms: firmware holes, kernel image, memmap (struct page), early and late hash
    tables, per-CPU areas, swiotlb, crashkernel, slab, kernel stacks, vmalloc,
    other runtime use, and watermark reserves; then MemTotal and MemAvailable.
    --json prints one object with memory_kib, mem_total_kib, mem_available_kib and
    breakdown_kib (its values plus mem_available_kib add up to memory_kib).
    Outside the calibrated range it warns; --strict refuses (exit 2).

    Example: planner predict --kernel debian12-cloud-amd64 --memory 128MiB
    """
    from planner.api import predict_guest
    from planner.units import parse_size_kib

    memory_kib = parse_size_kib(memory, field="--memory")
    result = predict_guest(
        kernel,
        memory_kib,
        vcpu_count=vcpus,
        possible_cpu_count=possible_cpus,
        cmdline=cmdline,
        machine=machine,
        strict=strict,
    )
    emit(result, json_out=json_out, report="predict", html=html, csv=csv)


@app.command()
@handle_errors
def check(
    uris: Annotated[
        list[str],
        typer.Argument(
            help="libvirt URIs, checked in parallel: qemu:///system, qemu+ssh://host/system, "
            "test:///ABSOLUTE/PATH/host.xml.",
            show_default=False,
        ),
    ],
    host: Annotated[
        Path | None,
        typer.Option(
            "--host",
            help="Host file (YAML, as for fit): host kernel, hypervisor, reserves, vCPU ratio; "
            "its guest profiles get headroom; its node memory stands in when libvirt reports no NUMA cells.",
            dir_okay=False,
        ),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", help="Guest profile (repeatable): how many more of it fit now."),
    ] = None,
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
) -> None:
    """Check live libvirt hosts, read-only: committed, really used, and headroom per NUMA node.

    Each URI is opened read-only (libvirt.openReadOnly; nothing is ever changed). Per host:
    memory from every source (cross-checked), NUMA cells, free memory; per domain (in bulk):
    maximum and current memory, vCPUs, state, NUMA tuning, hugepages, balloon statistics;
    for a local qemu host, each qemu process's real overhead from /proc/PID/smaps_rollup,
    beside the hypervisor profile's prediction. Per node: capacity, committed (full guest
    size + overhead), used now; warnings; headroom per --profile from the same integer
    program as fit, existing guests fixed. Exit 1 if a host failed or is over-committed.
    Needs libvirt-python (pip install 'planner[libvirt]').
    Example: planner check qemu:///system --profile kvm-cloud-128mib
    """
    from planner.api import check as check_hosts

    result = check_hosts(uris, host_path=host, profiles=profile or [])
    emit(result, json_out=json_out, report="check", html=html, csv=csv)
    if result.bad_input:
        raise typer.Exit(2)
    if result.failed or result.over_committed:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="planner")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)

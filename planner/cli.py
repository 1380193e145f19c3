"""The ``planner`` command line: options -> one workflow call -> print -> exit code.

Exit codes (the only place they are decided):
0 ok; 1 a check found a problem (over-committed or unreachable host);
2 bad input (:class:`planner.errors.InputError` and subclasses, usage errors);
3 any other planner error. Anything else is a bug and keeps its traceback.

Each command imports its workflow (:mod:`planner.workflows`) when it runs, and heavy modules
(scipy, jinja2, libvirt, matplotlib) are imported only where they are used, so
``planner predict`` starts fast. Usage errors, the error handler and the shared options:
:mod:`planner.cli_support`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from planner import __version__
from planner.cli_density import density
from planner.cli_fleet import fleet as fleet_command
from planner.cli_support import (
    BootAccel,
    BootJobs,
    BootProgress,
    CsvOption,
    HtmlOption,
    JsonOption,
    PlannerGroup,
    boot_progress,
    emit,
    handle_errors,
    output_file_checked,
    print_json,
)
from planner.cli_tune import tune

app = typer.Typer(
    cls=PlannerGroup,
    name="planner",
    help=(
        "Guest-density capacity planner: how many guests fit on a host, and where every MiB goes.\n\n"
        "Typical flow: `planner bootlab` boots a kernel under qemu at several sizes, `planner calibrate` "
        "fits the kernel memory model to those logs, `planner predict` shows a guest's memory at any size, "
        "`planner fit host.yaml` packs guest profiles onto a host, `planner tune` finds the "
        "kernel command-line changes that save memory, `planner check URI` holds the plan against a live "
        "libvirt host."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


# --- bootlab ------------------------------------------------------------------------------------
BootKernel = Annotated[
    str, typer.Option("--kernel", help="A vmlinuz path, or a Debian package (linux-image-s390x:s390x).")
]
BootOutput = Annotated[
    Path, typer.Option("-o", "--output", help="Directory for one log per boot + manifest.json.")
]
BootMemory = Annotated[
    str, typer.Option("--memory", help="Guest sizes, comma-separated (128MiB,512MiB,2GiB).")
]
BootVcpus = Annotated[str, typer.Option("--vcpus", help="vCPU counts, comma-separated.")]
BootNumaNodes = Annotated[
    str, typer.Option("--numa-nodes", help="NUMA node counts (qemu -numa, x86_64), comma-separated.")
]
BootArch = Annotated[str | None, typer.Option("--arch", help="x86_64 or s390x; default: the kernel image's.")]
BootMachine = Annotated[
    str | None, typer.Option("--machine", help="pc | q35 (x86_64), s390-ccw-virtio (s390x).")
]
BootCmdline = Annotated[
    str, typer.Option("--cmdline", help="Kernel arguments; console= and panic=-1 are always added.")
]
BootTag = Annotated[str, typer.Option("--tag", help="Suffix for log names (512MiB-1cpu-TAG.log).")]
BootFindMin = Annotated[
    bool,
    typer.Option(
        "--find-min", help="Bisect between the smallest and largest --memory for the smallest that boots."
    ),
]
BootStep = Annotated[str, typer.Option("--step", help="--find-min resolution.")]
BootTimeout = Annotated[float, typer.Option("--timeout", help="Seconds before a boot is killed.")]
BootBusybox = Annotated[
    Path | None, typer.Option("--busybox", help="Static busybox; default Debian busybox-static.")
]
BootSystemChanges = Annotated[
    bool, typer.Option("--allow-system-changes", help="May run dpkg --add-architecture for s390x packages.")
]
BootCalibrate = Annotated[
    str | None,
    typer.Option("--calibrate", help="Then calibrate all logs in OUTPUT into ./profiles/kernels/NAME.yaml."),
]


@app.command()
@handle_errors
def bootlab(
    kernel: BootKernel,
    output: BootOutput,
    memory: BootMemory = "128MiB",
    vcpus: BootVcpus = "1",
    numa_nodes: BootNumaNodes = "1",
    arch: BootArch = None,
    machine: BootMachine = None,
    cmdline: BootCmdline = "loglevel=8 log_buf_len=1M",
    tag: BootTag = "",
    find_min: BootFindMin = False,
    step: BootStep = "2MiB",
    accel: BootAccel = "auto",
    timeout: BootTimeout = 300.0,
    jobs: BootJobs = None,
    busybox: BootBusybox = None,
    allow_system_changes: BootSystemChanges = False,
    calibrate: BootCalibrate = None,
    progress: BootProgress = None,
    json_out: JsonOption = False,
) -> None:
    """Boot a real kernel under qemu at each size and capture its memory evidence.

    Each boot's console log (dmesg, /proc/meminfo, slabinfo, zoneinfo, vmstat, iomem, ...)
    is written to OUTPUT/<size>-<n>cpu.log and listed in OUTPUT/manifest.json with the
    qemu command, wall time and outcome: dump, oom-panic, panic, silent-reset,
    truncated-dump, timeout or qemu-error. Exit code 1 if a boot timed out or qemu failed.
    """
    from planner.report.text import bootlab_text
    from planner.workflows import bootlab as workflow

    request = workflow.bootlab_request(
        kernel, output, memory=memory, vcpus=vcpus, numa_nodes=numa_nodes, accel=accel,
        calibrate=calibrate, find_min=find_min, step=step, arch=arch, machine=machine, cmdline=cmdline,
        tag=tag, timeout_s=timeout, jobs=jobs,
        busybox=busybox, allow_system_changes=allow_system_changes,
    )  # fmt: skip
    try:
        with boot_progress(progress, request.boot_count, bar=not find_min) as tick:
            result = workflow.run_bootlab(request, progress=tick)
    except KeyboardInterrupt:
        typer.echo(f"planner: {workflow.interrupted_message(output)}", err=True)
        raise typer.Exit(130) from None
    emit(result, bootlab_text, json_out=json_out)
    if result.campaign.failed_to_run:
        names = ", ".join(f"{r.log} ({r.outcome})" for r in result.campaign.failed_to_run)
        typer.echo(f"planner: error: boots that did not finish: {names}; no qemu is left running", err=True)
        raise typer.Exit(1)


app.command()(density)  # planner.cli_density: boots guests in a memory cgroup


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
    from planner.report.text import fit_text
    from planner.workflows.fit import fit as fit_host

    emit(fit_host(host_file), fit_text, json_out=json_out, report="fit", html=html, csv=csv)


@app.command()
@handle_errors
def profiles(json_out: JsonOption = False) -> None:
    """List kernel calibrations, hypervisor profiles and guest profiles, one line each.

    Use the names in a host file: host.kernel (a kernel calibration), host.hypervisor
    (a hypervisor profile) and guests[].profile (a guest profile). Profiles ship in the
    package (profiles/kernels, profiles/hypervisors, profiles/guests); every number in
    them names its source.
    """
    from planner.report.text import profiles_text
    from planner.workflows.catalog import profiles as list_profiles

    emit(list_profiles(), profiles_text, json_out=json_out)


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON schema of a host file (for editors and validators).

    The schema documents every field of a host file: host (memory, numa_nodes,
    node_memory, cpus, kernel, hypervisor, reserves, vcpu_ratio, hugepages; or capacity /
    node_capacity for a capacity-only host, such as a cgroup's memory limit), guests
    (profile, min, max, weight, memory, vcpus, workload, hugepages), objective and
    scenario. Sizes are strings with a binary unit (64GiB, 128MiB, 65536k).
    """
    from planner.workflows.catalog import host_schema

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
        typer.Option(
            "-o",
            "--output",
            help="Write the calibration YAML here (atomically; a new file or a regular file in an "
            "existing directory, never one of the logs).",
            callback=output_file_checked("--output", "the calibration"),
        ),
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
    from planner.report.text import calibrate_text
    from planner.workflows.kernel import calibrate_logs

    result = calibrate_logs(logs, name=name, output=output, description=description, partial=partial)
    emit(result, calibrate_text, json_out=json_out)


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
    from planner.report.text import predict_text
    from planner.units import parse_memory_kib
    from planner.workflows.kernel import predict_guest

    result = predict_guest(
        kernel,
        parse_memory_kib(memory, field="--memory"),
        vcpu_count=vcpus,
        possible_cpu_count=possible_cpus,
        cmdline=cmdline,
        machine=machine,
        strict=strict,
    )
    emit(result, predict_text, json_out=json_out, report="predict", html=html, csv=csv)


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
            "its guest profiles get headroom; its node memory stands in when libvirt reports no NUMA cells "
            "(its capacity always, for a capacity-only host).",
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
    from planner.report.text import check_text
    from planner.workflows.check import check as check_hosts

    result = check_hosts(uris, host_path=host, profiles=profile or [])
    emit(result, check_text, json_out=json_out, report="check", html=html, csv=csv)
    if result.bad_input:
        raise typer.Exit(2)
    if result.failed or result.over_committed:
        raise typer.Exit(1)


app.command()(tune)  # planner.cli_tune: kernel command-line changes that buy guests


@app.command("calibrate-host")
@handle_errors
def calibrate_host(
    uris: Annotated[
        list[str],
        typer.Argument(
            help="libvirt URIs of hosts this machine runs (qemu:///system, qemu:///session): their qemu "
            "processes are read from /proc.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write the hypervisor profile YAML here (atomically).", dir_okay=False
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Profile whose values are kept for the terms the domains do not determine "
            "(default: kvm-qemu for kvm domains, qemu-tcg for TCG ones).",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Profile name (default BASE-HOSTNAME).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Measure the qemu overhead of running guests and fit a hypervisor profile to it.

    Reads each host as `planner check` does (read-only). For every running domain whose
    qemu process is on this machine: overhead = process RSS - resident guest RAM + page
    tables (/proc/PID/smaps_rollup, smaps, status). Least squares of overhead = fixed +
    per extra vCPU x (vCPUs - 1) + per MiB x guest MiB, the kvm-qemu model's
    process_kib, per_extra_vcpu_kib and page_table_ram_divisor (= 1024 / per MiB). A term
    the domains do not determine (one vCPU count, one size) or that fits at or below zero
    keeps the --base profile's value, and says so; libvirtd's own terms are always kept.
    Prints each domain's residual; the profile records the URIs, date, domains and
    residuals. Use guests of several sizes and vCPU counts to fit all three terms.

    Example: planner calibrate-host qemu:///system -o my-host.yaml, then hypervisor: ./my-host.yaml
    """
    from planner.report.text import calibrate_host_text
    from planner.workflows.calibrate_host import calibrate_host as fit_profile

    result = fit_profile(uris, base=base, output=output, name=name)
    emit(result, calibrate_host_text, json_out=json_out)


app.command("fleet")(fleet_command)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="planner")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)

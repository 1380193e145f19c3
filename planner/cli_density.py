"""``planner density``: the command (registered by :mod:`planner.cli`), its options and its
progress display; the work is :mod:`planner.workflows.density`, the text
:mod:`planner.report.density`. Kept out of ``cli.py`` so that no module grows past 500 lines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from planner.cli_support import JsonOption, emit, handle_errors

DensityAccel = Annotated[
    str, typer.Option("--accel", help="tcg | kvm | auto (KVM only if a short probe boot works).")
]
DensityProgress = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress on stderr (default: on a tty).")
]
DensityProfile = Annotated[str, typer.Argument(help="Guest profile name or YAML file.")]
DensityLimit = Annotated[str, typer.Option("--limit", help="The cgroup's memory cap (1536MiB).")]
DensityMemory = Annotated[str | None, typer.Option("--memory", help="Guest RAM; default the profile's.")]
DensityHold = Annotated[float, typer.Option("--hold", help="Seconds to hold the survivors.")]
DensityTmpfs = Annotated[str | None, typer.Option("--workload-tmpfs", help="tmpfs data per guest (32MiB).")]
DensityMaxGuests = Annotated[int, typer.Option("--max-guests", min=1, help="Stop adding at this many.")]
DensityTimeout = Annotated[float, typer.Option("--timeout", help="Seconds one boot may take.")]
DensityOutput = Annotated[Path | None, typer.Option("-o", "--output", help="Keep console logs here.")]


@handle_errors
def density(
    profile: DensityProfile,
    limit: DensityLimit,
    memory: DensityMemory = None,
    hold: DensityHold = 60.0,
    workload_tmpfs: DensityTmpfs = None,
    max_guests: DensityMaxGuests = 64,
    accel: DensityAccel = "auto",
    timeout: DensityTimeout = 300.0,
    output: DensityOutput = None,
    progress: DensityProgress = None,
    json_out: JsonOption = False,
) -> None:
    """Boot real guests of a profile in a memory-capped cgroup until the OOM killer strikes.

    Guests (the profile's kernel, an idle busybox initramfs, qemu started directly) are added
    one at a time, each once the one before printed IDLE-READY, until the cgroup counts an OOM
    kill, a qemu exits or a boot times out; the survivors are held --hold seconds and counted.

    Printed: each guest's boot time, qemu RSS, resident guest RAM and the cgroup's usage; the
    per-guest cost (usage / guests) beside fit's guaranteed count (full guest RAM + the
    hypervisor's per-guest overhead) and expected count (boot footprint + workload + overhead)
    for the same limit, and where and why they disagree.

    Uses cgroup v2 where the memory controller is there, else v1 (as root). The limit may be
    at most 75 % of the host's MemAvailable. Exit 1 if fit's guaranteed count did not stay up.

    Example: planner density kvm-cloud-128mib --limit 1536MiB --accel tcg
    """
    import contextlib

    from planner.bootlab.density import DensityEvent
    from planner.report.density import density_text
    from planner.workflows import density as workflow

    request = workflow.density_request(
        profile, limit=limit, memory=memory, hold_s=hold, workload_tmpfs=workload_tmpfs,
        max_guests=max_guests, accel=accel, timeout_s=timeout, output=output,
    )  # fmt: skip
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with contextlib.ExitStack() as stack:
            bars: list[Any] = []  # the hold's progress bar, made at the first hold event

            def tell(event: DensityEvent) -> None:
                if show and event.kind != "hold":
                    typer.echo(event.text, err=True)
                elif show and sys.stderr.isatty():
                    if not bars:
                        bar = typer.progressbar(length=int(hold) or 1, file=sys.stderr)
                        bars.append(stack.enter_context(bar))
                    bars[0].update(int(event.hold_elapsed_s) - bars[0].pos)

            result = workflow.run_density_profile(request, progress=tell)
    except KeyboardInterrupt:
        typer.echo(f"planner: {workflow.interrupted_message(output)}", err=True)
        raise typer.Exit(130) from None
    emit(result, density_text, json_out=json_out)
    if not result.guaranteed_holds:
        raise typer.Exit(1)

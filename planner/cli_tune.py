"""``planner tune``: the command (registered by :mod:`planner.cli`) and its options; the work is
:mod:`planner.workflows.tune` and :mod:`planner.workflows.tune_verify`, the text
:mod:`planner.report.tune_text`. Kept out of ``cli.py`` so that no module grows past 500 lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli_support import (
    BootAccel,
    BootJobs,
    BootProgress,
    CsvOption,
    HtmlOption,
    JsonOption,
    boot_progress,
    emit,
    handle_errors,
)

TuneHost = Annotated[
    Path | None,
    typer.Option(
        "--host",
        dir_okay=False,
        help="For a guest profile: pack it on this host file's host (default: the host of "
        "examples/kvm-two-nodes.yaml for x86-64, examples/s390x-kvm-lpar.yaml for s390x).",
    ),
]
TuneVerify = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Boot each guest kernel under qemu with and without every change (bootlab, --jobs at a "
        "time) and print measured against predicted; exit 1 if a MemTotal or reserved change is more "
        "than 64 KiB off the prediction, a hash table is not the size predicted, or a boot fails.",
    ),
]
TuneOutput = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="--verify: the boot logs' directory (default: a new one)."),
]


@handle_errors
def tune(
    target: Annotated[str, typer.Argument(help="A guest profile (name or YAML path) or a host file.")],
    host: TuneHost = None,
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
    verify: TuneVerify = False,
    output: TuneOutput = None,
    jobs: BootJobs = None,
    accel: BootAccel = "auto",
    progress: BootProgress = None,
) -> None:
    """Kernel command-line changes that save guest memory, and the guests they add per host.

    Per kernel (a guest profile's; for a host file its host kernel and every guest's): each
    change the kernel build honours (hash table sizes, swiotlb=noforce, crashkernel= and
    log_buf_len= removal, nr_cpus=, transparent_hugepage=never, cma=, cgroup.memory=nokmem,
    coherent_pool=) with the KiB it saves term by term, what the guest loses, the kernel
    versions that have it, and the guests per host with it (planner fit's guaranteed plan,
    the guest shrunk to the smallest RAM that keeps its usable memory); then the command line
    to paste and guests per host before and after.

    \b
    Examples:
      planner tune kvm-cloud-128mib
      planner tune kvm-cloud-128mib --host examples/kvm-two-nodes.yaml --json
      planner tune examples/kvm-two-nodes.yaml --html tune.html --csv tune-csv
      planner tune kvm-cloud-128mib --verify --jobs 1 -o boots
    """
    from planner.report.tune_text import tune_text
    from planner.workflows import tune_verify
    from planner.workflows.tune import tune as tune_target

    tune_verify.check_options(verify, output=output, jobs=jobs, accel=accel)
    result = tune_target(target, host=host)
    if verify:
        try:
            with boot_progress(progress, tune_verify.boot_count(result)) as tick:
                result = tune_verify.verify(result, output, jobs=jobs, accel=accel, progress=tick)
        except KeyboardInterrupt:
            typer.echo("planner: interrupted; every qemu was stopped", err=True)
            raise typer.Exit(130) from None
    emit(result, tune_text, json_out=json_out, report="tune", html=html, csv=csv)
    if not result.verified:
        typer.echo("planner: error: a verified change disagrees with its prediction (see above)", err=True)
        raise typer.Exit(1)

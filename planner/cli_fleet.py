"""``planner fleet``: its typer command, registered on the app by :mod:`planner.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli_support import CsvOption, HtmlOption, JsonOption, emit, handle_errors

FailuresOption = Annotated[
    int | None,
    typer.Option(
        "--failures", min=0, max=2, help="N+r: hosts that may fail together (0-2); default: the file's."
    ),
]
FromCheckOption = Annotated[
    list[str] | None,
    typer.Option(
        "--from-check",
        help="Read the fleet from live libvirt hosts, read-only, as `planner check` does (repeatable).",
    ),
]
HostOption = Annotated[
    Path | None,
    typer.Option(
        "--host", help="With --from-check: a host file for the hosts' kernel, hypervisor, reserves."
    ),
]


@handle_errors
def fleet(
    fleet_file: Annotated[
        Path | None, typer.Argument(help="Fleet file (YAML): host types, hosts, inventory.")
    ] = None,
    from_check: FromCheckOption = None,
    host: HostOption = None,
    failures: FailuresOption = None,
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
) -> None:
    """Plan many hosts: fewest hosts / least cost, headroom, N+r failover, consolidation.

    Host types are host files' host: blocks with a cost and an available count; each guest is
    sized as `planner fit` sizes it. Column generation over host patterns (HiGHS) gives the
    plan with a proven lower bound. Example: planner fleet examples/fleet/kvm-pool.yaml --failures 1.
    With --from-check URI...: headroom, N+r and consolidation of running hosts.
    """
    from planner.errors import InputError
    from planner.report.fleet_text import fleet_text

    if (fleet_file is None) == (not from_check):
        raise InputError(
            "expected a fleet file or --from-check URI (one of them); found "
            + ("both" if fleet_file is not None else "neither"),
            field="FLEET_FILE",
        )
    if from_check:
        from planner.workflows.fleet_live import fleet_from_check

        result = fleet_from_check(from_check, host_path=host, failures=failures or 0)
    else:
        from planner.workflows.fleet import fleet as run_fleet

        assert fleet_file is not None
        result = run_fleet(fleet_file, failures=failures)
    emit(result, fleet_text, json_out=json_out, report="fleet", html=html, csv=csv)

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


@handle_errors
def fleet(
    fleet_file: Annotated[Path, typer.Argument(help="Fleet file (YAML): host types, hosts, inventory.")],
    failures: FailuresOption = None,
    json_out: JsonOption = False,
    html: HtmlOption = None,
    csv: CsvOption = None,
) -> None:
    """Plan many hosts: fewest hosts / least cost, headroom, N+r failover, consolidation.

    Host types are host files' host: blocks with a cost and an available count; each guest is
    sized as `planner fit` sizes it. Column generation over host patterns (HiGHS) gives the
    plan with a proven lower bound. Example: planner fleet examples/fleet/kvm-pool.yaml --failures 1
    """
    from planner.report.fleet_text import fleet_text
    from planner.workflows.fleet import fleet as run_fleet

    emit(
        run_fleet(fleet_file, failures=failures),
        fleet_text,
        json_out=json_out,
        report="fleet",
        html=html,
        csv=csv,
    )

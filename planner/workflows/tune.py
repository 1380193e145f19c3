"""``planner tune``: each kernel's command-line candidates, what they save per guest (the kernel
model, :mod:`planner.kernel.tuning`) and what they add per host (``planner fit``'s guaranteed
plan, :func:`planner.workflows.fit.guaranteed_plan`, on tuned copies of the host file).

TARGET (:mod:`.tune_inputs`) is a guest profile, packed alone on ``--host``'s host or the
default one, or a host file: then its host kernel (a KVM host's, which fit subtracts from each
node) and every guest entry are tuned, each alone and all at once.

How a tuned guest is counted on the host: :data:`planner.results.tune.HOST_COST_RULE`.
Booting the changes (``--verify``): :mod:`.tune_verify`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from planner.errors import InputError, OutOfRangeWarning
from planner.inputs.specs import GuestRequest, HostFile
from planner.kernel.model import GuestSpec
from planner.kernel.tuning import equivalent_memory_kib, guest_snapshot, host_snapshot, tune_guest, tune_host
from planner.kernel.tuning_results import Snapshot, TuneResult, apply_changes
from planner.results import PerGuest, PlanResult
from planner.results.tune import (
    CandidateGain,
    GuestCost,
    HostSummary,
    KernelTuning,
    Packing,
    Step,
    TuneReport,
)
from planner.workflows.fit import guaranteed_plan
from planner.workflows.fit_report import fit_input_files
from planner.workflows.tune_inputs import (
    DEFAULT_HOSTS,
    Memory,
    lone_guest_host,
    read_target,
    with_guests,
    with_host_cmdline,
)


def tune(target: str, *, host: Path | None = None) -> TuneReport:
    """Tune a guest profile (name or path) or a host file: the candidates of each kernel, the
    recommendation, and guests per host before and after.

    Parameters
    ----------
    target
        A shipped guest profile's name, a guest profile YAML, or a host file.
    host
        For a guest profile: the host file whose ``host:`` it is packed on (default: the
        default host of its architecture, :mod:`.tune_inputs`).

    Raises
    ------
    InputError
        A bad target or host file, ``--host`` with a host file, a host that cannot run the guest.
    InfeasibleError
        As ``planner fit`` (a workload that fits no size, minimums that do not fit).
    """
    read = read_target(target)
    if isinstance(read, HostFile):
        if host is not None:
            raise InputError(
                f"expected --host only with a guest profile TARGET; found the host file {target} "
                "(its own host is used)",
                field="--host",
            )
        return tune_host_file(read, target=target, source="host file")
    host_file, source = lone_guest_host(read, host)
    return tune_host_file(host_file, target=target, source=source)


def tune_host_file(
    host_file: HostFile, *, target: str, source: Literal["host file", "--host", "default"]
) -> TuneReport:
    """:func:`tune` of a host file already read (``source`` says where its host came from; the
    host kernel is tuned for a host file only).

    Raises
    ------
    InputError
        A host file with no guests and no host kernel the planner models (nothing to tune).
    """
    skipped = _host_kernel_skip(host_file) if source == "host file" else None
    if not host_file.guests and (skipped is not None or source != "host file"):
        raise InputError(
            f"expected a guest entry or a host kernel the planner models to tune; found neither ({skipped})",
            file=host_file.path,
            field="guests",
        )
    per_guest, plan = guaranteed_plan(host_file)
    baseline = _packing("now", host_file, per_guest, plan)
    notes: list[str] = []
    kernels: list[KernelTuning] = []
    with _quiet_range(notes):
        if source == "host file" and skipped is None:
            kernels.append(_tune_host_kernel(host_file, baseline))
        kernels += [_tune_guest(host_file, g, per_guest[g.name], baseline) for g in host_file.guests]
        combined = kernels[0].after if len(kernels) == 1 else _combined(host_file, kernels)
    notes += _solver_notes(baseline, kernels, combined)
    files = fit_input_files(host_file)
    if source == "default":
        files = tuple(f for f in files if f.role != "host file")
    return TuneReport(
        target=target,
        target_kind="host file" if source == "host file" else "guest profile",
        host=_host_summary(host_file, source),
        kernels=tuple(kernels),
        host_kernel_skipped=skipped,
        baseline=baseline,
        combined=combined,
        input_files=files,
        notes=tuple(dict.fromkeys(notes)),
    )


def _solver_notes(baseline: Packing, kernels: list[KernelTuning], combined: Packing) -> list[str]:
    """A note for each packing HiGHS did not prove optimal (its time limit: the count is a
    feasible plan and may be short of the best, as planner fit reports it)."""
    plans: list[tuple[str, str, float | None]] = [(baseline.label, baseline.plan.status, baseline.plan.gap)]
    for k in kernels:
        plans += [(f"{k.name} with {g.option}", g.status, None) for g in k.gains]
        plans.append((k.after.label, k.after.plan.status, k.after.plan.gap))
    plans.append((combined.label, combined.plan.status, combined.plan.gap))
    return [
        f"{label}: the solver stopped at its time limit ({status}"
        + (f", gap {gap:.3%}" if gap is not None and math.isfinite(gap) else "")
        + "): a feasible count, possibly a few guests short of the best"
        for label, status, gap in dict.fromkeys(plans)
        if status != "optimal"
    ]


@contextmanager
def _quiet_range(notes: list[str]) -> Iterator[None]:
    """Out-of-range warnings of the tuned copies' fits, once each, as notes (fit warns on every
    packing; a tuned guest is packed once per candidate)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutOfRangeWarning)
        yield
    for w in caught:
        if issubclass(w.category, OutOfRangeWarning):
            notes.append(f"tuned: {w.message}")
        else:  # not ours to keep quiet
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _host_summary(host_file: HostFile, source: Literal["host file", "--host", "default"]) -> HostSummary:
    host = host_file.host
    if source == "default":
        arch = host_file.guests[0].calibration.arch
        description = (
            f"the default {arch} host (the host of examples/{DEFAULT_HOSTS[arch].example}; "
            "give --host host.yaml for yours)"
        )
    else:
        description = f"the host of {host_file.path}"
    return HostSummary(
        source=source,
        path=None if source == "default" else host_file.path,
        description=description,
        node_memory_kib=host.node_memory_kib,
        cpu_count=host.cpu_count,
        vcpu_ratio=host.vcpu_ratio,
        hypervisor=host.hypervisor.name,
        host_kernel=host.kernel.name if host.kernel else None,
        host_kernel_applied=host.kernel is not None and host.hypervisor.host_kernel_scope == "node",
        cmdline=host.cmdline,
        operator_reserve_kib=host.operator_reserve_kib,
    )


def _packing(
    label: str,
    host_file: HostFile,
    per_guest: Mapping[str, PerGuest] | None = None,
    plan: PlanResult | None = None,
) -> Packing:
    """fit's guaranteed plan of ``host_file`` (computed unless given), as a :class:`Packing`."""
    if per_guest is None or plan is None:
        per_guest, plan = guaranteed_plan(host_file)
    requests = {g.name: g for g in host_file.guests}
    guests = tuple(
        GuestCost(
            name=name,
            memory_kib=pg.guest_memory_kib,
            memory_auto=pg.memory_auto,
            cmdline=requests[name].profile.cmdline,
            usable_kib=pg.user_available_kib,
            host_cost_kib=pg.host_cost_kib,
            count=plan.guests[name],
        )
        for name, pg in per_guest.items()
    )
    return Packing(label, host_file.host.cmdline, guests, plan)


def _steps(snapshot: Callable[[str], Snapshot], cmdline: str, result: TuneResult) -> tuple[Step, ...]:
    """The recommendation applied change by change, from the baseline's ``cmdline``."""
    changes = result.recommendation.changes
    before = result.baseline
    out = []
    for k in range(1, len(changes) + 1):
        after = snapshot(apply_changes(cmdline, changes[:k]))
        terms = {
            t: before.breakdown_kib.get(t, 0) - after.breakdown_kib.get(t, 0)
            for t in dict.fromkeys([*before.breakdown_kib, *after.breakdown_kib])
        }
        out.append(
            Step(
                changes[k - 1].label,
                before.kernel_kib - after.kernel_kib,
                {t: v for t, v in terms.items() if v},
            )
        )
        before = after
    return tuple(out)


def _tune_guest(host_file: HostFile, g: GuestRequest, pg: PerGuest, baseline: Packing) -> KernelTuning:
    """One guest entry: its kernel's candidates at the size fit gave it, each packed alone."""
    cal = g.calibration
    wk = pg.workload_kernel_kib
    spec = GuestSpec(pg.guest_memory_kib, pg.vcpu_count, None, g.profile.cmdline, g.profile.machine)
    result = tune_guest(cal, spec, workload_kernel_kib=wk)

    def packed(label: str, cmdline: str) -> Packing:
        memory: Memory = "auto"
        if g.memory_kib != "auto":
            memory = equivalent_memory_kib(cal, spec, cmdline, workload_kernel_kib=wk)
        return _packing(label, with_guests(host_file, {g.name: (cmdline, memory)}))

    gains = []
    for c in result.candidates:
        p = packed(c.change.label, apply_changes(spec.cmdline, [c.change]))
        gains.append(
            CandidateGain(
                c.change.label, p.guest(g.name).memory_kib, p.node_capacity_kib, p.total_guests, p.plan.status
            )
        )
    after = packed(f"{g.name} tuned", result.recommendation.cmdline)

    def snapshot(cmdline: str) -> Snapshot:
        return guest_snapshot(cal, dataclasses.replace(spec, cmdline=cmdline), workload_kernel_kib=wk)

    return KernelTuning(
        "guest",
        g.name,
        g.profile.name,
        cal,
        pg.guest_memory_kib,
        pg.memory_auto,
        pg.vcpu_count,
        spec,
        result,
        tuple(gains),
        _steps(snapshot, spec.cmdline, result),
        baseline,
        after,
    )


def _host_kernel_skip(host_file: HostFile) -> str | None:
    """Why the host's kernel is not tuned (None: it is, fit subtracts it from each node)."""
    host = host_file.host
    if host.kernel is None:
        return "the host file names no host kernel (host.kernel)"
    if host.hypervisor.host_kernel_scope != "node":
        return (
            f"host kernel {host.kernel.name} is not subtracted from the guests' memory under "
            f"{host.hypervisor.name}: {host.hypervisor.stack.host_kernel_note}"
        )
    return None


def _tune_host_kernel(host_file: HostFile, baseline: Packing) -> KernelTuning:
    """The host's own kernel (fit subtracts it from each node on a KVM host)."""
    host = host_file.host
    kernel = host.kernel
    assert kernel is not None
    result = tune_host(kernel, host.node_memory_kib, host.cpu_count, host.cmdline)
    gains = []
    for c in result.candidates:
        p = _packing(c.change.label, with_host_cmdline(host_file, apply_changes(host.cmdline, [c.change])))
        gains.append(CandidateGain(c.change.label, None, p.node_capacity_kib, p.total_guests, p.plan.status))
    after = _packing("host kernel tuned", with_host_cmdline(host_file, result.recommendation.cmdline))

    def snapshot(cmdline: str) -> Snapshot:
        return host_snapshot(kernel, host.node_memory_kib, host.cpu_count, cmdline)

    steps = _steps(snapshot, host.cmdline, result)
    return KernelTuning(
        "host", "host", None, kernel, host.memory_kib, False, host.cpu_count, None, result,
        tuple(gains), steps, baseline, after,
    )  # fmt: skip


def _combined(host_file: HostFile, kernels: list[KernelTuning]) -> Packing:
    """Every kernel takes its recommendation at once."""
    tuned: dict[str, tuple[str, Memory]] = {}
    for k in kernels:
        if k.role == "guest":
            memory: Memory = "auto" if k.memory_auto else k.after.guest(k.name).memory_kib
            tuned[k.name] = (k.tuning.recommendation.cmdline, memory)
    copy = with_guests(host_file, tuned)
    host = next((k for k in kernels if k.role == "host"), None)
    if host is not None:
        copy = with_host_cmdline(copy, host.tuning.recommendation.cmdline)
    return _packing("all tuned", copy)

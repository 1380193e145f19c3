"""Kernel command-line tuning: what each option saves a guest (or a host) kernel, term by term.

The talk the project grew from ends with "hash tables ... can be tweaked on command line:
dhash_entries=, ihash_entries=, thash_entries=, rhash_entries=. Please benchmark". For a
guest (:func:`tune_guest`: a calibration and a :class:`~planner.kernel.model.GuestSpec`) or a
host kernel (:func:`tune_host`) this lists every command-line change the kernel build honours
and that saves memory, each with the saving per breakdown term (two predictions of
:mod:`planner.kernel.model`, with and without the change), a one-line risk and the versions
that have it (:mod:`planner.kernel.tuning_facts`), then merges them into one command line
predicted as a whole: changes interact (``nr_cpus=`` with the per-CPU terms and the memcg map,
``cgroup.memory=nokmem`` with the possible CPUs), so the total is a prediction, not a sum.

Changes considered: the boot-time hash tables the build lets the command line size; no
swiotlb bounce buffer (``swiotlb=noforce``); removing ``crashkernel=`` and ``log_buf_len=``
when present; ``nr_cpus=`` down to the online vCPUs when more CPUs are possible;
``transparent_hugepage=never`` (the THP watermark raise); ``cma=0``/``vmcp_cma=0``; and the
idle memory hogs the calibrations show that a command line can remove: the memcg map of the
dynamic per-CPU chunk (``cgroup.memory=nokmem``, 4 MiB with one possible CPU on x86-64) and
the DMA atomic pools (``coherent_pool=4K``: 3 x 128 KiB and more above 1 GiB). A change the
model predicts saves nothing (or costs) is listed under ``skipped`` with the reason.

Hash-table rule [rule]: one bucket per MiB of RAM, at least ``HASH_MIN_ENTRIES`` (1024, the
setting measured at 512 MiB: -752 KiB of ``reserved``, reference bootlab-debian-6.1.md §3.5)
or, for UDP, ``UDP_HTABLE_SIZE_MIN`` (256). A table is tuned only when that is below the
kernel's own size. The kernel's sizes follow RAM (one Dentry bucket per 8 KiB, scale 13;
Inode 16 KiB; TCP established 128 KiB: :mod:`planner.kernel.hashtables`), which assumes RAM
full of cached objects; an idle Debian guest caches about 10^4 dentries and inodes whatever
its size (slab dentry 2.0 MB, inode_cache 6.8 MB: bootlab §3.3). A size given on the command
line bypasses ``alloc_large_system_hash()``'s scaling and its one-page minimum (the minimum
applies only in the ``if (!numentries)`` branch, ``mm/page_alloc.c`` @ v6.1), so the kernel
would accept 1 entry: the floor is a choice, not a kernel limit, and the risk line says what
it costs (longer chains when the guest caches more objects than it has buckets).

Pure: no I/O. All quantities KiB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from planner.errors import InfeasibleError
from planner.kernel.calibration import Calibration
from planner.kernel.cmdline import parse_cmdline
from planner.kernel.host import HostPrediction, predict_host
from planner.kernel.layout import host_layout
from planner.kernel.model import GuestSpec, OutOfRange, Prediction, predict
from planner.kernel.reserved import build_hash_tables
from planner.kernel.tuning_facts import OPTIONS, kernel_version
from planner.kernel.tuning_results import (
    Candidate,
    Change,
    Recommendation,
    Skipped,
    Snapshot,
    TableChange,
    TuneResult,
    apply_changes,
    option_key,
)
from planner.units import KIB_PER_MIB, format_kib

#: [rule] the smallest table proposed (8 KiB of 8-byte buckets)
HASH_MIN_ENTRIES = 1024
#: UDP_HTABLE_SIZE_MIN (include/linux/udp.h): uhash_entries= below it is raised to it
UDP_HASH_MIN_ENTRIES = 256
#: coherent_pool= proposed: one page per atomic pool (kernel/dma/pool.c grows them on demand)
COHERENT_POOL_OPTION = "coherent_pool=4K"

#: cmdline key -> tables it sizes (dmesg names; the first is compared with the proposal)
HASH_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "6.1": {
        "dhash_entries": ("Dentry cache",),
        "ihash_entries": ("Inode-cache",),
        "mhash_entries": ("Mount-cache",),
        "mphash_entries": ("Mountpoint-cache",),
        "thash_entries": ("TCP established", "tcp_listen_portaddr_hash", "TCP bind"),
        "uhash_entries": ("UDP", "UDP-Lite"),
    },
    "2.6.18": {
        "dhash_entries": ("Dentry cache",),
        "ihash_entries": ("Inode-cache",),
        "thash_entries": ("TCP established", "TCP bind"),
        "rhash_entries": ("IP route cache",),
    },
}


def tuned_hash_entries(memory_kib: int, key: str, min_entries: int = HASH_MIN_ENTRIES) -> int:
    """[rule] One bucket per MiB of RAM, a power of two, at least ``min_entries`` (UDP: 256)."""
    floor = UDP_HASH_MIN_ENTRIES if key == "uhash_entries" else min_entries
    per_mib = -(-memory_kib // KIB_PER_MIB)
    return max(floor, 1 << (per_mib - 1).bit_length())


# --- snapshots ------------------------------------------------------------------------------------
def guest_snapshot(
    calibration: Calibration,
    spec: GuestSpec,
    *,
    workload_kernel_kib: int = 0,
    out_of_range: OutOfRange = "ignore",
) -> Snapshot:
    """:func:`~planner.kernel.model.predict` for ``spec``; ``usable_kib`` = MemAvailable less the
    workload's own kernel cost (:func:`~planner.kernel.model.workload_kernel_kib`)."""
    p = predict(calibration, spec, out_of_range=out_of_range)
    totals = {
        "mem_total_kib": p.mem_total_kib,
        "mem_available_kib": p.mem_available_kib,
        "usable_kib": p.mem_available_kib - workload_kernel_kib,
        "reserved_kib": p.reserved_kib,
        "kernel_kib": p.kernel_kib,
        "min_free_kbytes": p.min_free_kbytes,
    }
    return Snapshot(spec.cmdline, p.kernel_kib, dict(p.breakdown_kib), totals, p.hash_tables, p)


def host_snapshot(
    calibration: Calibration, node_memory_kib: Sequence[int], cpu_count: int, cmdline: str
) -> Snapshot:
    """:func:`~planner.kernel.host.predict_host`, with the host's hash tables."""
    p = predict_host(calibration, list(node_memory_kib), cpu_count, cmdline)
    layout = host_layout(calibration.arch, [int(m) for m in node_memory_kib])
    tables = build_hash_tables(
        calibration,
        layout,
        calibration.parameters,
        possible_cpu_count=cpu_count,
        cmdline=cmdline,
        hashdist=len(node_memory_kib) > 1,
    )
    totals = {"kernel_kib": p.total_kernel_kib, "min_free_kbytes": p.min_free_kbytes}
    totals |= {f"node{i}_kernel_kib": kib for i, kib in enumerate(p.node_kernel_kib)}
    return Snapshot(cmdline, p.total_kernel_kib, dict(p.breakdown_kib), totals, tables, p)


# --- proposals ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    calibration: Calibration
    base: Snapshot
    memory_kib: int
    vcpu_count: int
    possible_cpu_count: int
    hash_min_entries: int


def _facts_skip(ctx: _Context, key: str, option: str) -> Skipped | None:
    """A Skipped when the kernel version does not have ``key``."""
    facts = OPTIONS[key]
    version = kernel_version(ctx.calibration)
    if facts.exists_in(version):
        return None
    shown = ".".join(str(v) for v in version) if version else "?"
    return Skipped(key, option, f"not in Linux {shown}: {facts.versions}")


def _hash_proposals(ctx: _Context) -> tuple[list[Change], list[Skipped]]:
    changes: list[Change] = []
    skipped: list[Skipped] = []
    cmd_keys = {option_key(t): t for t in ctx.base.cmdline.split()}
    tables = {t.name: t for t in ctx.base.hash_tables}
    for key, names in HASH_KEYS.get(ctx.calibration.parameters.hash_rules, {}).items():
        entries = tuned_hash_entries(ctx.memory_kib, key, ctx.hash_min_entries)
        option = f"{key}={entries}"
        if (skip := _facts_skip(ctx, key, option)) is not None:
            skipped.append(skip)
        elif key in cmd_keys:
            skipped.append(Skipped(key, cmd_keys[key], "already on the command line"))
        elif names[0] not in tables:
            skipped.append(Skipped(key, option, f"this kernel prints no {names[0]} table"))
        elif tables[names[0]].entries <= entries:
            current = tables[names[0]].entries
            skipped.append(Skipped(key, option, f"{names[0]} already has {current} entries at this size"))
        else:
            changes.append(Change(key, option))
    return changes, skipped


def _reservation_proposals(ctx: _Context) -> tuple[list[Change], list[Skipped]]:
    """swiotlb=noforce, crashkernel= and log_buf_len= removal, cma=0 / vmcp_cma=0."""
    p = ctx.calibration.parameters
    tokens = {option_key(t): t for t in ctx.base.cmdline.split()}
    changes: list[Change] = []
    skipped: list[Skipped] = []
    if not p.swiotlb_available:
        skipped.append(Skipped("swiotlb", "swiotlb=noforce", "this build and machine allocate no swiotlb"))
    elif ctx.base.breakdown_kib.get("swiotlb", 0) <= 0:
        skipped.append(
            Skipped("swiotlb", "swiotlb=noforce", "no bounce buffer at this size (no RAM above 4 GiB)")
        )
    elif (skip := _facts_skip(ctx, "swiotlb", "swiotlb=noforce")) is not None:
        skipped.append(skip)
    else:
        changes.append(Change("swiotlb", "swiotlb=noforce"))
    for key, absent in (
        ("crashkernel", "no crashkernel= to remove"),
        ("log_buf_len", "no log_buf_len= to remove"),
    ):
        if key not in tokens:
            skipped.append(Skipped(key, f"remove {key}=", absent))
        elif key == "crashkernel" and not p.crashkernel_available:
            skipped.append(
                Skipped(key, f"remove {tokens[key]}", "this build reserves none (no kdump support)")
            )
        else:
            changes.append(Change(key, tokens[key], remove=True))
    cma_key = "vmcp_cma" if ctx.calibration.arch == "s390x" else "cma"
    cma_kib = getattr(ctx.base.prediction, "cma_kib", 0)
    if not p.cma_available:
        why = "CONFIG_CMA is not set in this build"
    elif not cma_kib:
        why = "no CMA area on this machine (cma= not given; vmcp_cma is reserved on z/VM only)"
    else:  # mm/cma.c cma_activate_area(): CMA pages go back to the buddy allocator as MIGRATE_CMA
        why = f"its {format_kib(cma_kib)} stay in MemTotal and serve movable (user) pages: no saving"
    skipped.append(Skipped(cma_key, f"{cma_key}=0", why))
    return changes, skipped


def _runtime_proposals(ctx: _Context) -> tuple[list[Change], list[Skipped]]:
    """nr_cpus=, transparent_hugepage=never, cgroup.memory=nokmem, coherent_pool=."""
    p = ctx.calibration.parameters
    cmd = parse_cmdline(ctx.base.cmdline)
    changes: list[Change] = []
    skipped: list[Skipped] = []
    nr_cpus = f"nr_cpus={ctx.vcpu_count}"
    if ctx.possible_cpu_count <= ctx.vcpu_count:
        skipped.append(Skipped("nr_cpus", nr_cpus, "no more CPUs possible than online"))
    else:
        changes.append(Change("nr_cpus", nr_cpus))
    thp = "transparent_hugepage=never"
    if not p.thp_available:
        skipped.append(Skipped("transparent_hugepage", thp, "no THP in this build/machine"))
    elif cmd.transparent_hugepage == "never":
        skipped.append(Skipped("transparent_hugepage", thp, "already on the command line"))
    elif getattr(ctx.base.prediction, "thp_active", True) is False:
        why = "THP is off already: totalram below 512 MiB (mm/huge_memory.c hugepage_init())"
        skipped.append(Skipped("transparent_hugepage", thp, why))
    else:
        changes.append(Change("transparent_hugepage", thp))
    if not cmd.kmem_accounting:
        skipped.append(Skipped("cgroup.memory", "cgroup.memory=nokmem", "already on the command line"))
    else:
        changes.append(Change("cgroup.memory", "cgroup.memory=nokmem"))
    if p.dma_pool_count <= 0:
        skipped.append(Skipped("coherent_pool", COHERENT_POOL_OPTION, "no DMA atomic pools in this build"))
    elif cmd.coherent_pool_kib:
        skipped.append(Skipped("coherent_pool", f"coherent_pool={cmd.coherent_pool_kib}K", "already set"))
    else:
        changes.append(Change("coherent_pool", COHERENT_POOL_OPTION))
    return changes, skipped


# --- evaluation -----------------------------------------------------------------------------------
def _table_changes(before: Snapshot, after: Snapshot) -> tuple[TableChange, ...]:
    old = {t.name: t for t in before.hash_tables}
    out = []
    for t in after.hash_tables:
        o = old.get(t.name)
        if o is not None and (o.entries, o.size_kib) != (t.entries, t.size_kib):
            out.append(TableChange(t.name, o.entries, t.entries, o.size_kib, t.size_kib))
    return tuple(out)


def _evaluate(snapshot: Callable[[str], Snapshot], base: Snapshot, change: Change) -> Candidate | Skipped:
    try:
        after = snapshot(apply_changes(base.cmdline, [change]))
    except InfeasibleError as err:
        return Skipped(change.key, change.label, f"the model finds no room: {err.message}")
    saving = base.kernel_kib - after.kernel_kib
    terms = {
        k: base.breakdown_kib.get(k, 0) - after.breakdown_kib.get(k, 0)
        for k in sorted(set(base.breakdown_kib) | set(after.breakdown_kib))
    }
    terms = {k: v for k, v in terms.items() if v}
    if saving <= 0:
        grows = min(terms, key=lambda k: terms[k]) if terms and min(terms.values()) < 0 else None
        why = (
            f"costs {format_kib(-saving)}"
            + (f" ({grows} grows by {format_kib(-terms[grows])})" if grows else "")
            if saving < 0
            else "the model predicts no saving at this size"
        )
        return Skipped(change.key, change.label, why)
    totals = {k: after.totals_kib[k] - v for k, v in base.totals_kib.items() if k in after.totals_kib}
    return Candidate(change, OPTIONS[change.key], saving, terms, totals, _table_changes(base, after), after)


def _recommend(
    snapshot: Callable[[str], Snapshot],
    base: Snapshot,
    candidates: Sequence[Candidate],
    losers: Sequence[Change],
) -> Recommendation:
    """Merge every candidate and predict the whole line; leave out any candidate whose removal
    makes it save more, and add any change that costs alone but saves with the others
    (``nr_cpus=`` once ``cgroup.memory=nokmem`` has dropped the map that grows with fewer CPUs)."""
    changes = [c.change for c in candidates]
    after = snapshot(apply_changes(base.cmdline, changes))
    dropped: list[Change] = []
    for change in list(changes):
        trial = [c for c in changes if c != change]
        without = snapshot(apply_changes(base.cmdline, trial))
        if without.kernel_kib < after.kernel_kib:
            changes, after = trial, without
            dropped.append(change)
    added: list[Change] = []
    for change in losers:
        try:
            with_it = snapshot(apply_changes(base.cmdline, [*changes, change]))
        except InfeasibleError:
            continue
        if with_it.kernel_kib < after.kernel_kib:
            changes, after = [*changes, change], with_it
            added.append(change)
    summed = sum(c.saving_kib for c in candidates)
    return Recommendation(tuple(changes), base, after, summed, tuple(dropped), tuple(added))


def _tune(
    target: Literal["guest", "host"],
    ctx: _Context,
    snapshot: Callable[[str], Snapshot],
    notes: tuple[str, ...],
) -> TuneResult:
    proposals: list[Change] = []
    skipped: list[Skipped] = []
    for family in (_hash_proposals, _reservation_proposals, _runtime_proposals):
        changes, skips = family(ctx)
        proposals += changes
        skipped += skips
    candidates: list[Candidate] = []
    losers: list[Change] = []
    for change in proposals:
        if (skip := _facts_skip(ctx, change.key, change.label)) is not None:
            skipped.append(skip)
            continue
        result = _evaluate(snapshot, ctx.base, change)
        if isinstance(result, Candidate):
            candidates.append(result)
        else:
            skipped.append(result)
            losers.append(change)
    candidates.sort(key=lambda c: -c.saving_kib)
    rec = _recommend(snapshot, ctx.base, candidates, losers)
    cal = ctx.calibration
    return TuneResult(
        target, cal.name, cal.kernel_release, ctx.base, tuple(candidates), tuple(skipped), rec, notes
    )


def tune_guest(
    calibration: Calibration,
    spec: GuestSpec,
    *,
    workload_kernel_kib: int = 0,
    hash_min_entries: int = HASH_MIN_ENTRIES,
    out_of_range: OutOfRange = "ignore",
) -> TuneResult:
    """Candidate command-line changes for one guest, and the merged recommendation.

    Parameters
    ----------
    calibration
        The guest kernel's calibration.
    spec
        RAM, vCPUs, possible CPUs, the guest's command line (changes already on it are not
        proposed again; ``crashkernel=``/``log_buf_len=`` are proposed for removal only when
        present) and machine.
    workload_kernel_kib
        What the workload makes the kernel spend (``usable_kib`` = MemAvailable less this). [KiB]
    hash_min_entries
        The smallest hash table proposed ([rule] in the module docstring). [entries]
    out_of_range
        Policy outside the calibrated range (:func:`~planner.kernel.model.predict`).
    """

    def snapshot(cmdline: str) -> Snapshot:
        return guest_snapshot(
            calibration,
            dataclasses.replace(spec, cmdline=cmdline),
            workload_kernel_kib=workload_kernel_kib,
            out_of_range="ignore",
        )

    base = guest_snapshot(
        calibration, spec, workload_kernel_kib=workload_kernel_kib, out_of_range=out_of_range
    )
    possible = parse_cmdline(spec.cmdline).possible_cpu_count(spec.possible_cpu_count or spec.vcpu_count)
    ctx = _Context(calibration, base, spec.memory_kib, spec.vcpu_count, possible, hash_min_entries)
    assert isinstance(base.prediction, Prediction)
    result = _tune("guest", ctx, snapshot, base.prediction.notes)
    same_kib = equivalent_memory_kib(
        calibration, spec, result.recommendation.cmdline, workload_kernel_kib=workload_kernel_kib
    )
    rec = dataclasses.replace(result.recommendation, same_usable_memory_kib=same_kib)
    return dataclasses.replace(result, recommendation=rec)


def equivalent_memory_kib(
    calibration: Calibration,
    spec: GuestSpec,
    cmdline: str,
    *,
    workload_kernel_kib: int = 0,
    step_kib: int = KIB_PER_MIB,
) -> int:
    """The smallest guest RAM that, booted with ``cmdline``, keeps the usable memory ``spec`` has:
    what a tuned guest can be resized to, so that the host fits more of them. [KiB]

    Walks up in ``step_kib`` steps from ``spec.memory_kib`` less the predicted saving (usable
    memory grows about one for one with RAM; hash tables and watermarks step at sizes), never
    below the smallest size the calibration saw boot (``min_boot_memory_kib``).
    """
    before = guest_snapshot(calibration, spec, workload_kernel_kib=workload_kernel_kib).totals_kib
    target = before["usable_kib"]

    def usable(memory_kib: int) -> int:
        trial = dataclasses.replace(spec, memory_kib=memory_kib, cmdline=cmdline)
        try:
            return guest_snapshot(calibration, trial, workload_kernel_kib=workload_kernel_kib).totals_kib[
                "usable_kib"
            ]
        except InfeasibleError:
            return -1

    saving = usable(spec.memory_kib) - target
    floor_kib = -(-(calibration.min_boot_memory_kib or step_kib) // step_kib) * step_kib
    memory = max(spec.memory_kib - max(saving, 0) // step_kib * step_kib, floor_kib)
    while memory < spec.memory_kib and usable(memory) < target:
        memory += step_kib
    return memory


def tune_host(
    calibration: Calibration,
    node_memory_kib: Sequence[int],
    cpu_count: int,
    cmdline: str = "",
    *,
    hash_min_entries: int = HASH_MIN_ENTRIES,
) -> TuneResult:
    """Candidate command-line changes for a host's own kernel (:func:`~planner.kernel.host.predict_host`).

    The saving is host memory the guests can have: per node in ``totals_delta_kib``.
    """

    def snapshot(text: str) -> Snapshot:
        return host_snapshot(calibration, node_memory_kib, cpu_count, text)

    base = snapshot(cmdline)
    ctx = _Context(calibration, base, sum(node_memory_kib), cpu_count, cpu_count, hash_min_entries)
    assert isinstance(base.prediction, HostPrediction)
    return _tune("host", ctx, snapshot, base.prediction.notes)

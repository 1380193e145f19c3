"""Where a live host's running domains sit, node by node, and what they leave.

A domain bound to nodes by ``<numatune>``/``<memnode>`` commits there, split evenly over a
nodeset of several nodes (guest NUMA cells each by their own binding); an unbound domain is
placed whole on the node with the most capacity left (largest domains first), the kernel's
and libvirt's placement being unknown to the API; one that fits no node is split in
proportion to what is left. A domain commits its full ``<memory>`` (a balloon can grow back
to it) plus the hypervisor's per-guest overhead; a hugepage-backed one takes its RAM from the
node's pool when the host has one. Shut-off domains commit nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from planner.live.records import DomainSnapshot


def bound_nodes(dom: DomainSnapshot, index: Mapping[int, int]) -> dict[int, float] | None:
    """Node index -> share of the domain's memory, from ``<memnode>``/``<numatune>``; None
    when the domain is not bound (or bound only to nodes the host does not report)."""
    cfg = dom.config
    shares: dict[int, float] = {}
    cells = cfg.guest_numa_cells_kib
    total = sum(cells)
    bound_cells = {mn.cell_id: mn.nodeset for mn in cfg.memnodes}
    if cells and bound_cells and total:
        for cell_id, cell_kib in enumerate(cells):
            nodeset = bound_cells.get(cell_id, cfg.numa_nodeset)
            known = [index[n] for n in nodeset if n in index]
            if not known:
                return None
            for k in known:
                shares[k] = shares.get(k, 0.0) + cell_kib / total / len(known)
        return shares
    known = [index[n] for n in cfg.numa_nodeset if n in index]
    if not known:
        return None
    return {k: 1 / len(known) for k in known}


def place(
    dom: DomainSnapshot,
    index: Mapping[int, int],
    left: Sequence[int],
    need_kib: int,
    messages: list[str],
) -> tuple[dict[int, float], str]:
    """Node index -> share of the domain, and how it was placed (for the spans warning)."""
    cfg = dom.config
    bound = bound_nodes(dom, index)
    if bound is not None:
        how = f"{cfg.numa_mode or 'strict'} nodeset {','.join(map(str, cfg.numa_nodeset))}"
        if cfg.memnodes and cfg.guest_numa_cells_kib:
            how = "guest NUMA cells bound to different nodes"
        return bound, how
    if cfg.numa_nodeset:
        messages.append(
            f"domain {dom.name!r} is bound to node(s) {','.join(map(str, cfg.numa_nodeset))}, "
            "which the host does not report; placed as if unbound"
        )
    best = max(range(len(left)), key=lambda k: (left[k], -k))
    if left[best] >= need_kib or len(left) == 1:
        return {best: 1.0}, "placed whole"
    room = [max(0, v) for v in left]
    total = sum(room)
    if total <= 0:
        return {best: 1.0}, "no node has room"
    return {k: v / total for k, v in enumerate(room) if v > 0}, "fits no single node"


@dataclass(frozen=True)
class Placement:
    """The active domains placed on a host's nodes, and what they leave. [KiB]"""

    node_kib: Mapping[str, Mapping[int, int]]  #: domain -> node id -> KiB it commits there
    overheads: Mapping[str, tuple[str, int]]  #: domain -> (hypervisor profile, its overhead)
    left_kib: tuple[int, ...]  #: per node index: ordinary capacity left (may be negative)
    hugepages_left_kib: tuple[int, ...]  #: per node index: hugepage pool left


@dataclass(frozen=True)
class Messages:
    """Where placement reports: warnings, notes, and whether NUMA bindings matter (a host that
    reports no NUMA cells has one made-up node: a binding there is a note, not a warning)."""

    warnings: list[str]
    notes: list[str]
    bindings_matter: bool


def place_domains(
    domains: Sequence[DomainSnapshot],
    node_ids: Sequence[int],
    ordinary_kib: Sequence[int],
    hugepages_kib: Sequence[int],
    overhead: Callable[[DomainSnapshot], tuple[str, int]],
    messages: Messages,
) -> Placement:
    """Place every active domain (bound ones first, then the largest first).

    ``ordinary_kib`` and ``hugepages_kib`` are each node's capacity outside and inside its
    hugepage pool; ``overhead`` gives a domain's hypervisor profile and per-guest overhead.
    """
    index = {nid: k for k, nid in enumerate(node_ids)}
    left, huge_left = list(ordinary_kib), list(hugepages_kib)
    placed: dict[str, dict[int, int]] = {}
    overheads: dict[str, tuple[str, int]] = {}
    order = sorted(
        (d for d in domains if d.active),
        key=lambda d: (bound_nodes(d, index) is None, -d.config.max_memory_kib, d.name),
    )
    for dom in order:
        overheads[dom.name] = overhead(dom)
        over_kib = overheads[dom.name][1]
        use_pool = dom.config.hugepage_kib is not None and sum(hugepages_kib) > 0
        ram_kib = dom.config.max_memory_kib
        where = messages.warnings if messages.bindings_matter else messages.notes
        shares, how = place(dom, index, huge_left if use_pool else left, ram_kib + over_kib, where)
        node_kib: dict[int, int] = {}
        for k, share in shares.items():
            ram_share, over_share = round(ram_kib * share), round(over_kib * share)
            if use_pool:
                huge_left[k] -= ram_share
                left[k] -= over_share
            else:
                left[k] -= ram_share + over_share
            node_kib[node_ids[k]] = ram_share + over_share
        placed[dom.name] = node_kib
        if len(node_kib) > 1:
            spans = ",".join(str(k) for k in sorted(node_kib))
            messages.warnings.append(f"domain {dom.name!r} spans nodes {spans} ({how})")
        if dom.config.hugepage_kib is not None and not use_pool:
            messages.notes.append(
                f"domain {dom.name!r} uses huge pages but the host reports no pool; counted as node memory"
            )
    return Placement(placed, overheads, tuple(left), tuple(huge_left))

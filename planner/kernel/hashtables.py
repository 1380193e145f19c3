"""Boot-time hash tables sized from RAM: ``alloc_large_system_hash()`` and its callers.

The sizes are computed, never fitted. Rules follow ``mm/page_alloc.c
alloc_large_system_hash()`` @ v6.1 (moved to ``mm/mm_init.c`` later) and the
callers listed in reference kernel-memory-facts.md §1.3:

1. ``N = round_up(nr_kernel_pages, 256)`` (1 MiB of pages);
2. adaptive scaling (v4.12, commit 9017217b6f45): ``scale += 1`` for every 4x
   above 64 GiB (2**24 pages) when the caller sets no high limit;
3. ``n = N >> (scale - 12)``; at least one page worth of buckets (or, for
   ``HASH_SMALL``, ``2**preset_shift``);
4. ``n = roundup_pow_of_two(n)``, clamped to ``[low, high or nr_all_pages*4096/16/bucket]``;
5. a cmdline ``*hash_entries=`` value replaces steps 1-3.

``HASH_EARLY`` tables (Dentry, Inode) come from memblock and sit in the dmesg
``reserved`` figure, outside MemTotal. The others come from the page allocator
after ``mem_init()``: inside MemTotal, in no meminfo field (or in VmallocUsed
when vmalloc'ed: ``order >= MAX_ORDER`` or ``hashdist`` on multi-node machines).
2.6.18 rules differ (PID hash, IP route cache, no adapt, no low limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.units import PAGE_BYTES

ADAPT_SCALE_NPAGES = (64 << 30) // PAGE_BYTES  # 64 GiB of 4 KiB pages
MAX_ORDER = 11  # 6.1: vmalloc when the allocation order reaches this


@dataclass(frozen=True)
class HashRule:
    """One caller of ``alloc_large_system_hash()``."""

    name: str  # as printed in dmesg
    bucket_bytes: int
    scale: int  # log2 bytes of RAM per bucket
    early: bool  # HASH_EARLY: memblock, in "reserved"
    cmdline_key: str | None = None  # e.g. "dhash_entries"
    low_entries: int = 0
    high_entries: int = 0  # 0 = no limit: adaptive scaling applies
    fixed_entries: int | None = None  # numentries passed by the caller
    small_shift: int | None = None  # HASH_SMALL preset shift
    source: str = ""


@dataclass(frozen=True)
class HashTableSize:
    """A computed hash table."""

    name: str
    entries: int
    size_bytes: int
    early: bool
    vmalloc: bool
    allocated_bytes: int | None = None  # 2.6-era __get_free_pages(): a power of two of pages

    @property
    def size_kib(self) -> int:
        """Memory taken [KiB]: exact for memblock; whole pages for the page allocator."""
        if self.allocated_bytes is not None:
            return self.allocated_bytes // 1024
        if self.early:
            return -(-self.size_bytes // 1024)
        return -(-self.size_bytes // PAGE_BYTES) * (PAGE_BYTES // 1024)


#: callers of ``alloc_large_system_hash()`` in 6.1 dmesg order before the futex table: sized from RAM
_RULES_6_1_BEFORE_FUTEX = (
    HashRule("Dentry cache", 8, 13, True, "dhash_entries", source="fs/dcache.c dcache_init_early() @ v6.1"),
    HashRule("Inode-cache", 8, 14, True, "ihash_entries", source="fs/inode.c inode_init_early() @ v6.1"),
    HashRule("Mount-cache", 8, 19, False, "mhash_entries", source="fs/namespace.c mnt_init() @ v6.1"),
    HashRule("Mountpoint-cache", 8, 19, False, "mphash_entries", source="fs/namespace.c mnt_init() @ v6.1"),
)
#: the callers after the futex table
_RULES_6_1_AFTER_FUTEX = (
    HashRule(
        "IP idents", 8, 16, False, None, 2048, 256 * 1024, source="net/ipv4/route.c ip_rt_init() @ v6.1"
    ),
    HashRule(
        "tcp_listen_portaddr_hash",
        16,
        21,
        False,
        "thash_entries",
        0,
        64 * 1024,
        source="net/ipv4/inet_hashtables.c inet_hashinfo2_init() @ v6.1",
    ),
    HashRule(
        "Table-perturb",
        4,
        0,
        False,
        None,
        fixed_entries=65536,
        source="net/ipv4/inet_hashtables.c (INET_TABLE_PERTURB_ORDER 16) @ v6.1",
    ),
    HashRule(
        "TCP established",
        8,
        17,
        False,
        "thash_entries",
        0,
        512 * 1024,
        source="net/ipv4/tcp.c tcp_init() @ v6.1",
    ),
    # TCP bind: numentries = established entries (bhash + bhash2 buckets, 32 B); high 64K
    HashRule("TCP bind", 32, 17, False, None, 0, 64 * 1024, source="net/ipv4/tcp.c tcp_init() @ v6.1"),
    HashRule(
        "MPTCP token",
        24,
        20,
        False,
        None,
        0,
        64 * 1024,
        source="net/mptcp/token.c mptcp_token_init() @ v6.1",
    ),
    HashRule(
        "UDP",
        32,
        21,
        False,
        "uhash_entries",
        256,
        64 * 1024,
        source="net/ipv4/udp.c udp_table_init() @ v6.1",
    ),
    HashRule(
        "UDP-Lite",
        32,
        21,
        False,
        "uhash_entries",
        256,
        64 * 1024,
        source="net/ipv4/udp.c udp_table_init() @ v6.1",
    ),
)


def _futex_rule(arch: str, possible_cpu_count: int) -> HashRule:
    """The futex table: ``roundup_pow_of_two(256 * num_possible_cpus())`` buckets of one cache line
    (``kernel/futex/core.c futex_init()`` @ v6.1)."""
    cacheline = 256 if arch == "s390x" else 64  # futex_hash_bucket is ____cacheline_aligned
    futex_entries = _roundup_pow2(256 * max(1, possible_cpu_count))
    return HashRule(
        "futex",
        cacheline,
        0,
        False,
        None,
        low_entries=futex_entries,
        high_entries=futex_entries,
        fixed_entries=futex_entries,
        source="kernel/futex/core.c futex_init() @ v6.1",
    )


def _rules_6_1(arch: str, possible_cpu_count: int) -> tuple[HashRule, ...]:
    """Every caller of ``alloc_large_system_hash()`` in a 6.1 kernel, in dmesg order."""
    return (*_RULES_6_1_BEFORE_FUTEX, _futex_rule(arch, possible_cpu_count), *_RULES_6_1_AFTER_FUTEX)


def _roundup_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _ilog2(n: int) -> int:
    return n.bit_length() - 1


def alloc_large_system_hash(
    rule: HashRule,
    nr_kernel_pages: int,
    nr_all_pages: int,
    *,
    numentries: int = 0,
    hashdist: bool = False,
    rules: str = "6.1",
) -> HashTableSize:
    """Entries and bytes of one table, as ``alloc_large_system_hash()`` computes them.

    Parameters
    ----------
    rule
        The caller's parameters.
    nr_kernel_pages, nr_all_pages
        From :func:`planner.kernel.layout.nr_kernel_pages`. [pages]
    numentries
        A cmdline override (``dhash_entries=`` ...) or the caller's fixed count.
    hashdist
        Multi-node NUMA: non-early tables are vmalloc'ed (``hashdist``).
    """
    scale = rule.scale
    n = numentries or (rule.fixed_entries or 0)
    if not n:
        pages = -(-nr_kernel_pages // 256) * 256  # round_up to 1 MiB
        if rule.high_entries == 0 and rules != "2.6.18":
            adapt = ADAPT_SCALE_NPAGES
            while adapt < pages:
                scale += 1
                adapt <<= 2
        n = pages >> (scale - 12) if scale > 12 else pages << (12 - scale)
        if rule.small_shift is not None:
            if not n >> rule.small_shift:
                n = 1 << rule.small_shift
        elif n * rule.bucket_bytes < PAGE_BYTES:
            n = PAGE_BYTES // rule.bucket_bytes
    n = _roundup_pow2(n)
    limit = rule.high_entries or min((nr_all_pages * PAGE_BYTES >> 4) // rule.bucket_bytes, 0x80000000)
    n = max(n, rule.low_entries)
    n = min(n, limit)
    n = 1 << _ilog2(n)
    size_bytes = n * rule.bucket_bytes
    order = max(0, _ilog2(max(size_bytes, PAGE_BYTES) - 1) + 1 - 12) if size_bytes > PAGE_BYTES else 0
    vmalloc = not rule.early and (order >= MAX_ORDER or hashdist)
    return HashTableSize(rule.name, n, size_bytes, rule.early, vmalloc)


def parse_hash_cmdline(cmdline: str) -> dict[str, int]:
    """``dhash_entries=1024 ihash_entries=1024 ...`` -> {key: entries}; non-numeric values are ignored."""
    out: dict[str, int] = {}
    for token in cmdline.split():
        key, sep, value = token.partition("=")
        if sep and key.endswith("hash_entries"):
            try:
                out[key] = int(value, 0)
            except ValueError:
                continue
    return out


def hash_tables(
    arch: str,
    nr_kernel_pages: int,
    *,
    possible_cpu_count: int = 1,
    cmdline: str = "",
    hashdist: bool = False,
    rules: str = "6.1",
) -> tuple[HashTableSize, ...]:
    """Every boot-time hash table of a 6.1 kernel, in dmesg order.

    ``nr_all_pages`` equals ``nr_kernel_pages`` on 64-bit (no highmem). TCP bind
    takes the established table's entry count (``tcp_init()``).
    """
    overrides = parse_hash_cmdline(cmdline)
    out: list[HashTableSize] = []
    est_entries = 0
    for rule in _rules_6_1(arch, possible_cpu_count):
        requested = overrides.get(rule.cmdline_key, 0) if rule.cmdline_key else 0
        if rule.name == "TCP bind":
            requested = est_entries
        early_rule = rule
        if hashdist and rule.early:
            # hashdist: dentry/inode skip the early allocation and are vmalloc'ed late (fs/dcache.c)
            early_rule = HashRule(**{**rule.__dict__, "early": False})
        table = alloc_large_system_hash(
            early_rule, nr_kernel_pages, nr_kernel_pages, numentries=requested, hashdist=hashdist, rules=rules
        )
        if rule.name == "TCP established":
            est_entries = table.entries
        out.append(table)
    return tuple(out)


# --- 2.6.18 -------------------------------------------------------------------------------------------
def _alsh_2_6_18(
    name: str,
    bucket_bytes: int,
    numentries: int,
    scale: int,
    early: bool,
    nr_pages: int,
    limit: int = 0,
) -> HashTableSize:
    """``alloc_large_system_hash()`` @ v2.6.18 (mm/page_alloc.c): no adapt, no low limit, and a
    late table that needs an order >= MAX_ORDER is halved until ``__get_free_pages()`` can serve it."""
    n = numentries
    if not n:
        pages = -(-nr_pages // 256) * 256
        n = pages >> (scale - 12) if scale > 12 else pages << (12 - scale)
    n = _roundup_pow2(n)
    maximum = limit or (nr_pages * PAGE_BYTES >> 4) // bucket_bytes
    n = min(n, maximum)
    log2qty = _ilog2(n)
    while True:
        size = bucket_bytes << log2qty
        if early:
            return HashTableSize(name, 1 << log2qty, size, True, False)
        order = 0
        while (PAGE_BYTES << order) < size:
            order += 1
        if order < MAX_ORDER or log2qty == 0:
            return HashTableSize(name, 1 << log2qty, size, False, False, allocated_bytes=PAGE_BYTES << order)
        log2qty -= 1


def hash_tables_2_6_18(
    nr_kernel_pages: int,
    physpages: int,
    *,
    cmdline: str = "",
    ehash_bucket_bytes: int = 16,
    bhash_bucket_bytes: int = 16,
    route_bucket_bytes: int = 8,
) -> tuple[HashTableSize, ...]:
    """The boot-time hash tables of a 2.6.18 x86-64 kernel, in dmesg order.

    Callers (reference kernel-memory-facts.md §1.3 "old" rows): ``kernel/pid.c
    pidhash_init()`` (bootmem, ``2**min(12, max(4, fls(MB*4)))`` entries); Dentry
    (scale 13) and Inode (14) from bootmem; the Mount cache is one page;
    ``net/ipv4/route.c`` IP route cache (scale 15 with >= 128 Ki physpages, else 17);
    ``net/ipv4/tcp.c`` TCP established (scale 13/15, HASH_HIGHMEM) and bind (half the
    established entries, at most 64 Ki). Bucket sizes of the TCP and route tables
    depend on the build's lock debugging: a calibration measures them from its log
    (the seed's kernel printed 56-byte TCP buckets).
    """
    overrides = parse_hash_cmdline(cmdline)
    megabytes = nr_kernel_pages >> 8
    pid_shift = min(12, max(4, (megabytes * 4).bit_length()))
    big = physpages >= 128 * 1024
    est = _alsh_2_6_18(
        "TCP established",
        ehash_bucket_bytes,
        overrides.get("thash_entries", 0),
        13 if big else 15,
        False,
        nr_kernel_pages,
    )
    return (
        HashTableSize("PID", 1 << pid_shift, 8 << pid_shift, True, False),
        _alsh_2_6_18("Dentry cache", 8, overrides.get("dhash_entries", 0), 13, True, nr_kernel_pages),
        _alsh_2_6_18("Inode-cache", 8, overrides.get("ihash_entries", 0), 14, True, nr_kernel_pages),
        HashTableSize("Mount-cache", PAGE_BYTES // 16, PAGE_BYTES, False, False, allocated_bytes=PAGE_BYTES),
        _alsh_2_6_18(
            "IP route cache",
            route_bucket_bytes,
            overrides.get("rhash_entries", 0),
            15 if big else 17,
            False,
            nr_kernel_pages,
        ),
        est,
        _alsh_2_6_18(
            "TCP bind",
            bhash_bucket_bytes,
            est.entries >> 1,
            13 if big else 15,
            False,
            nr_kernel_pages,
            64 * 1024,
        ),
    )

"""Kernel command-line options that change memory use, parsed into KiB.

Sources: ``Documentation/admin-guide/kernel-parameters.txt`` @ v6.1;
``kernel/crash_core.c parse_crashkernel()``; ``kernel/dma/swiotlb.c
setup_io_tlb_npages()``; ``kernel/printk/printk.c log_buf_len_setup()``;
``kernel/smp.c nrcpus()`` and ``arch/x86/kernel/smpboot.c prefill_possible_map()``
(``nr_cpus=`` caps ``nr_cpu_ids``, ``possible_cpus=`` sets the possible count under that
cap); ``mm/memcontrol.c cgroup_memory()`` (``cgroup.memory=nokmem``); ``kernel/dma/pool.c
early_coherent_pool()`` (``coherent_pool=``).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InputError
from planner.units import parse_size_kib

#: IO_TLB_SHIFT 11: one swiotlb slab is 2 KiB (include/linux/swiotlb.h @ v6.1)
SWIOTLB_SLAB_KIB = 2
#: IO_TLB_DEFAULT_SIZE 64 MiB -> 32768 slabs
SWIOTLB_DEFAULT_SLABS = 32768
#: struct io_tlb_slot: orig_addr, alloc_size, list (24 bytes) per slab
SWIOTLB_SLOT_BYTES = 24
#: per-area bookkeeping seen in the 6.1 logs (66316 = 65536 + 768 + 12) [KiB]
SWIOTLB_AREA_KIB = 12
#: printk ring buffer: text + descriptors + info per 32 bytes of text: 1 + 3.5 (measured: 1 MiB -> 4608 KiB)
LOG_BUF_FACTOR = 4.5
#: LOG_BUF_LEN_MAX: (u32)1 << 31 bytes [KiB]
LOG_BUF_LEN_MAX_KIB = 2 * 1024 * 1024


@dataclass(frozen=True)
class Cmdline:
    """Memory-relevant options of one kernel command line."""

    text: str = ""
    mem_limit_kib: int | None = None  # mem=
    crashkernel: str | None = None  # crashkernel= (raw, resolved against RAM later)
    crashkernel_low: str | None = None  # crashkernel=Y,low
    swiotlb: str | None = None  # swiotlb=
    log_buf_len_kib: int | None = None  # log_buf_len=
    possible_cpus: int | None = None  # possible_cpus=
    nr_cpus: int | None = None  # nr_cpus= (a cap on nr_cpu_ids, so on the possible CPUs)
    transparent_hugepage: str | None = None  # transparent_hugepage=always|madvise|never
    cma_kib: int | None = None  # cma= (kernel/dma/contiguous.c) or vmcp_cma= (drivers/s390/char/vmcp.c)
    kmem_accounting: bool = True  # False with cgroup.memory=nokmem
    coherent_pool_kib: int | None = None  # coherent_pool= (0 keeps the default size)

    def possible_cpu_count(self, default: int) -> int:
        """Possible CPUs under this command line, given the machine's (qemu ``maxcpus``).

        ``possible_cpus=N`` replaces the machine's count; ``nr_cpus=N`` caps it
        (``prefill_possible_map()``: ``possible = min(possible, nr_cpu_ids)``), in any order.
        """
        possible = self.possible_cpus if self.possible_cpus is not None else default
        return min(possible, self.nr_cpus) if self.nr_cpus is not None else possible


def _size(value: str, option: str) -> int:
    try:
        return parse_size_kib(value, field=option, default_unit="B")
    except InputError as err:
        raise InputError(f"in kernel command line: {err.message}", field=err.field) from None


def parse_cmdline(text: str) -> Cmdline:
    """Parse the options the memory model uses; everything else is ignored."""
    fields: dict[str, object] = {"text": text}
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep:
            continue
        if key == "mem":
            fields["mem_limit_kib"] = _size(value, "mem=")
        elif key == "crashkernel":
            if value.endswith(",low"):
                fields["crashkernel_low"] = value.removesuffix(",low")
            else:
                fields["crashkernel"] = value
        elif key == "swiotlb":
            fields["swiotlb"] = value
        elif key == "log_buf_len":
            fields["log_buf_len_kib"] = _size(value, "log_buf_len=")
        elif key in ("possible_cpus", "nr_cpus"):
            try:
                count = int(value)
            except ValueError:
                raise InputError(f"expected a CPU count; found {value!r}", field=f"{key}=") from None
            if count < 1:
                raise InputError(f"expected a CPU count of at least 1; found {value!r}", field=f"{key}=")
            fields[key] = count
        elif key == "transparent_hugepage":
            fields["transparent_hugepage"] = value
        elif key in ("cma", "vmcp_cma"):
            size = value.split("@")[0]
            # cma=0 / vmcp_cma=0 switch the area off (memparse() reads 0 with any suffix)
            fields["cma_kib"] = 0 if size.rstrip("KMGkmg") == "0" else _size(size, f"{key}=")
        elif key == "cgroup.memory":
            fields["kmem_accounting"] = "nokmem" not in value.split(",")
        elif key == "coherent_pool":
            fields["coherent_pool_kib"] = _size(value, "coherent_pool=")
    return Cmdline(**fields)  # type: ignore[arg-type]


def crashkernel_kib(spec: str | None, low_spec: str | None, system_ram_kib: int, swiotlb_kib: int) -> int:
    """Memory reserved by ``crashkernel=``. [KiB]

    Forms: ``128M``, ``128M@16M``, ``range1:size1[,range2:size2,...][@offset]``
    (``384M-:128M``: 128 MiB when RAM >= 384 MiB; ranges are start-inclusive,
    end-exclusive, matched against ``memblock_phys_mem_size()``), ``X,high`` (X
    above 4 GiB plus a low region: ``crashkernel=Y,low`` or the default
    ``max(swiotlb + 8 MiB, 256 MiB)``, ``arch/x86/kernel/setup.c`` @ v6.1).
    """
    if not spec:
        return 0
    high = spec.endswith(",high")
    body = spec.removesuffix(",high").split("@", 1)[0]
    size = 0
    if ":" in body:
        for item in body.split(","):
            rng, sep, amount = item.partition(":")
            if not sep:
                raise InputError(f"expected range:size in crashkernel=; found {item!r}", field="crashkernel=")
            start, dash, end = rng.partition("-")
            if not dash:
                raise InputError(f"expected start-[end] in crashkernel=; found {rng!r}", field="crashkernel=")
            start_kib = _size(start, "crashkernel=")
            end_kib = _size(end, "crashkernel=") if end else None
            if system_ram_kib >= start_kib and (end_kib is None or system_ram_kib < end_kib):
                size = _size(amount, "crashkernel=")
                break
    else:
        size = _size(body, "crashkernel=")
    if size and high:
        low = _size(low_spec, "crashkernel=") if low_spec else max(swiotlb_kib + 8 * 1024, 256 * 1024)
        size += low
    return size


def swiotlb_kib(option: str | None, needed: bool) -> int:
    """The swiotlb bounce buffer and its slot array. [KiB]

    ``needed``: x86-64 with RAM above 4 GiB (``pci_swiotlb_detect()`` @ v6.1).
    ``swiotlb=noforce`` drops it; ``swiotlb=N[,force]`` sets N slabs of 2 KiB.
    Measured: 66316 KiB for the default 64 MiB (reference bootlab §3.1).
    """
    slabs = SWIOTLB_DEFAULT_SLABS
    if option:
        first = option.split(",")[0]
        if first == "noforce":
            return 0
        if "force" in option.split(","):
            needed = True
        if first.isdigit():
            slabs = max(int(first), 1)
    if not needed:
        return 0
    return slabs * SWIOTLB_SLAB_KIB + -(-slabs * SWIOTLB_SLOT_BYTES // 1024) + SWIOTLB_AREA_KIB


def log_buffer_kib(log_buf_len_kib: int | None, default_kib: int) -> int:
    """Extra memblock memory for ``log_buf_len=`` above the built-in buffer. [KiB]

    The default buffer (``CONFIG_LOG_BUF_SHIFT``) is static, inside the image.
    A larger one, rounded up to a power of two, is allocated with its descriptor
    and info rings: 4.5 x the text size (measured: ``log_buf_len=1M`` adds exactly
    4608 KiB on cloud-amd64, amd64 and s390x, reference bootlab §1.2).
    """
    if not log_buf_len_kib:
        return 0
    # kernel/printk/printk.c log_buf_len_update(): capped at 2 GiB, rounded up to a power of two
    size_kib = 1 << (min(log_buf_len_kib, LOG_BUF_LEN_MAX_KIB) - 1).bit_length()
    if size_kib <= default_kib:
        return 0
    return round(size_kib * LOG_BUF_FACTOR)

"""The configured RAM (qemu ``-m``) of a boot, from its log, when nothing states it.

The rules of :func:`infer_memory_kib` come from the bootlab boots of
``reference/bootlab-debian-6.1.md`` §3.1 (every ``Memory: A/B`` line of a qemu ``pc`` guest has
B = RAM - 520 KiB; an s390 guest has no holes) and from the e820 map a PC's firmware hands the
kernel (``arch/x86/kernel/e820.c e820__print_table()`` @ v6.1, ``e820_print_map()`` @ v2.6.18).
"""

from __future__ import annotations

import re

from planner.evidence.records import Evidence
from planner.units import BYTES_PER_KIB, KIB_PER_MIB

#: qemu ``pc`` (i440fx + SeaBIOS) RAM that is not present to the kernel: of the first MiB only
#: pages 0x1000-0x9efff (158 pages, 632 KiB) are present (392 KiB lost to page 0, the EBDA at
#: 0x9fc00 and the 0xa0000-0xfffff hole), plus the 128 KiB e820-reserved at the top of low RAM.
#: ``Memory: A/B`` has B = RAM - 520 KiB on every x86 boot of ``reference/bootlab-debian-6.1.md``
#: §3.1 and of tests/data/bootlab. [KiB]
QEMU_PC_HOLES_KIB = 520
#: RAM below this address is "low" RAM in the e820 rule (qemu ``pc`` keeps all RAM below 3.5 GiB
#: when it fits, else splits at 3 GiB; q35 at 2 GiB; PCs end low RAM below it). [bytes]
_LOW_RAM_LIMIT_BYTES = 0xE000_0000
_FOUR_GIB_BYTES = 1 << 32
_MIB_BYTES = KIB_PER_MIB * BYTES_PER_KIB
_MEM_OPTION_RE = re.compile(r"(?:^|\s)mem=\S")


def infer_memory_kib(evidence: Evidence) -> int | None:
    """The configured RAM (qemu ``-m``) of a boot, from its log. [KiB]

    Rules, first that applies:

    1. **s390x**: ``setup: The maximum memory size is 128MB`` (the s390 machine
       has no firmware holes; ``Memory: A/B`` has B = RAM exactly,
       ``reference/bootlab-debian-6.1.md`` §3.1).
    2. **x86 on qemu ``pc``** (``evidence.machine`` is ``pc`` or ``pc-i440fx-*``),
       with a ``Memory:`` line and no ``mem=`` on the command line:
       physpages (B) + 520 KiB of firmware holes, rounded up to a whole MiB
       (B = RAM - 520 KiB on every bootlab x86 boot, §3.1).
    3. **x86 with e820 lines** (any machine, also ``mem=`` boots, whose
       ``BIOS-e820`` map still shows all RAM): the end of the highest e820
       range below 3.5 GiB plus every ``usable`` range at or above 4 GiB,
       rounded up to a whole MiB. On the seed's PC this gives 1024 MiB (the
       8 MiB frame buffer is an e820 ``reserved`` range inside RAM).
    4. Otherwise ``None``.
    """
    dmesg = evidence.dmesg
    if dmesg is None:
        return None
    if dmesg.max_memory_kib is not None and dmesg.arch in (None, "s390x"):
        return dmesg.max_memory_kib
    machine = (evidence.machine or "").lower()
    cmdline = evidence.cmdline or dmesg.command_line or ""
    is_pc = machine == "pc" or machine.startswith("pc-i440fx") or machine.startswith("pc-")
    if is_pc and dmesg.memory is not None and dmesg.arch != "s390x" and not _MEM_OPTION_RE.search(cmdline):
        physical_kib = dmesg.memory.physical_kib + QEMU_PC_HOLES_KIB
        return -(-physical_kib // KIB_PER_MIB) * KIB_PER_MIB
    if dmesg.e820:
        low_end = max((r.end for r in dmesg.e820 if r.end <= _LOW_RAM_LIMIT_BYTES), default=0)
        high = sum(r.size_bytes for r in dmesg.e820 if r.start >= _FOUR_GIB_BYTES and r.kind == "usable")
        total_bytes = low_end + high
        if total_bytes <= 0:
            return None
        return -(-total_bytes // _MIB_BYTES) * KIB_PER_MIB
    return None

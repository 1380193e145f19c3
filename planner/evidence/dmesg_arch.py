"""The architecture of a kernel log: from its ``Linux version`` line, else from arch-only messages.

In order: the release suffix (``-cloud-amd64`` -> ``x86_64``, ``-s390x`` -> ``s390x``), an
architecture word in the ``Linux version`` line (``init/version.c linux_banner``: build host
and compiler), s390 ``setup:`` lines (``arch/s390/kernel/setup.c``), and x86 firmware-map lines
(``arch/x86/kernel/e820.c``) together with a ``DMA32`` zone (64-bit x86 only). The kernel model
knows :data:`SUPPORTED_ARCHES`; a log of another architecture is refused by name.
"""

from __future__ import annotations

import re

from planner.errors import EvidenceError
from planner.evidence._text import Line
from planner.evidence.records import Dmesg

#: Architectures the kernel model knows.
SUPPORTED_ARCHES: tuple[str, ...] = ("x86_64", "s390x")

#: release suffix -> architecture; first match wins. Debian flavours (``-cloud-amd64``, ``-s390x``),
#: Fedora/RHEL/SUSE (``.x86_64``, ``.s390x``), and the unsupported ones so they can be named.
_ARCH_SUFFIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[-.+_](?:cloud-|rt-)?amd64$"), "x86_64"),
    (re.compile(r"[-.+_]x86_64$"), "x86_64"),
    (re.compile(r"[-.+_]s390x?$"), "s390x"),
    (re.compile(r"[-.+_](?:rt-)?(?:arm64|aarch64)(?:-16k)?$"), "aarch64"),
    (re.compile(r"[-.+_]armmp(?:-lpae)?$|[-.+_]arm(?:el|hf|v7hl?)$"), "arm"),
    (re.compile(r"[-.+_](?:ppc64el|ppc64le|powerpc64le)$"), "ppc64le"),
    (re.compile(r"[-.+_](?:ppc64|powerpc(?:-smp)?)$"), "ppc64"),
    (re.compile(r"[-.+_](?:686(?:-pae)?|i[3-6]86)$"), "i686"),
    (re.compile(r"[-.+_](?:riscv64)$"), "riscv64"),
    (re.compile(r"[-.+_](?:loong64|loongarch64)$"), "loongarch64"),
    (re.compile(r"[-.+_](?:mips\w*|octeon|loongson-3)$"), "mips"),
)
#: architecture words that may appear anywhere in the ``Linux version`` line (build host, compiler)
_ARCH_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w])(?:x86_64|x86-64|amd64)(?![\w])"), "x86_64"),
    (re.compile(r"(?<![\w])s390x(?![\w])"), "s390x"),
    (re.compile(r"(?<![\w])(?:aarch64|arm64)(?![\w])"), "aarch64"),
    (re.compile(r"(?<![\w])(?:ppc64le|powerpc64le|ppc64el)(?![\w])"), "ppc64le"),
    (re.compile(r"(?<![\w])riscv64(?![\w])"), "riscv64"),
)
#: s390 setup messages (arch/s390/kernel/setup.c)
S390_HINT_RE = re.compile(r"^setup: (?:Linux is running (?:natively|under|as)|The maximum memory size is )")
#: x86 firmware map and x86 subsystem messages
X86_HINT_RE = re.compile(r"^(?:BIOS-e820: |e820: |x86/|x86-64: )")


def _arch_from_release(release: str) -> str | None:
    for pattern, arch in _ARCH_SUFFIXES:
        if pattern.search(release):
            return arch
    return None


def _arch_from_words(text: str) -> str | None:
    for pattern, arch in _ARCH_WORDS:
        if pattern.search(text):
            return arch
    return None


def derive_arch(
    release: str | None,
    linux_version: str | None,
    s390_hint: bool,
    x86_64_hint: bool,
    source: str,
    version_line: Line | None,
) -> str | None:
    arch: str | None = None
    how = ""
    if release is not None:
        arch = _arch_from_release(release)
        how = f"release {release!r}"
    if arch is None and linux_version is not None:
        arch = _arch_from_words(linux_version)
        how = "the 'Linux version' line"
    if arch is None and s390_hint:
        return "s390x"
    if arch is None and x86_64_hint:
        return "x86_64"
    if arch is not None and arch not in SUPPORTED_ARCHES:
        raise EvidenceError(
            f"unknown architecture: expected a kernel for {' or '.join(SUPPORTED_ARCHES)}; "
            f"found {arch} (from {how})",
            file=source,
            line=version_line.number if version_line else None,
            field="Linux version",
        )
    return arch


def require_arch(dmesg: Dmesg, source: str) -> str:
    """Return the log's architecture, or raise if it cannot be derived."""
    if dmesg.arch is not None:
        return dmesg.arch
    found = f"release {dmesg.release!r}" if dmesg.release else "no 'Linux version' line"
    raise EvidenceError(
        "unknown architecture: expected a 'Linux version' line whose release names it (such as "
        f"6.1.0-56-cloud-amd64 or 6.1.0-50-s390x), s390 'setup:' lines or x86 e820 lines; found {found}",
        file=source,
        field="arch",
    )

"""Load one boot's evidence from a console capture, a directory, or a bare dmesg file.

Inputs (:func:`load_evidence`):

(a) A serial-console capture made by the bootlab recipe: the live console, then the
    ``==== NAME`` sections of the dump (:mod:`planner.evidence.capture`).
(b) A directory holding any of the files ``dmesg``, ``meminfo``, ``slabinfo``
    (or ``slabtop``), ``zoneinfo``, ``size`` (also with a ``.txt`` or ``.log``
    suffix).
(c) A bare dmesg file (or a single file named ``meminfo``, ``slabinfo``,
    ``slabtop``, ``zoneinfo`` or ``size``).

The bootlab ``manifest.json`` beside the log (:mod:`planner.evidence.manifest`) gives the
configured RAM, vCPUs, machine and qemu's resident guest RAM. Values passed to
:func:`load_evidence` win over the manifest, which wins over
:func:`planner.evidence.configured_ram.infer_memory_kib`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from planner.errors import EvidenceError
from planner.evidence._text import decode_bytes
from planner.evidence.capture import parse_bundle_text
from planner.evidence.configured_ram import infer_memory_kib
from planner.evidence.dmesg import parse_dmesg
from planner.evidence.manifest import manifest_facts
from planner.evidence.meminfo import parse_meminfo
from planner.evidence.records import Evidence, Slabinfo
from planner.evidence.size import parse_size
from planner.evidence.slabinfo import parse_slab_text
from planner.evidence.zoneinfo import parse_zoneinfo

__all__ = ["load_evidence"]

_DIR_FILES = ("dmesg", "meminfo", "slabinfo", "slabtop", "zoneinfo", "size")
_DIR_SUFFIXES = ("", ".txt", ".log")


def _read_text(path: Path) -> tuple[bytes, str]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise EvidenceError(f"expected a readable file; found {err.strerror or err}", file=path) from None
    return raw, decode_bytes(raw, str(path))


def _dir_file(directory: Path, name: str) -> Path | None:
    for suffix in _DIR_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _load_directory(directory: Path) -> Evidence:
    found = {name: p for name in _DIR_FILES if (p := _dir_file(directory, name)) is not None}
    if not found:
        raise EvidenceError(
            f"expected files named {', '.join(_DIR_FILES)} in the directory; found none", file=directory
        )
    digest = hashlib.sha256()
    texts: dict[str, tuple[str, str]] = {}
    for name in sorted(found):
        raw, text = _read_text(found[name])
        # the digest covers each file's name, length and bytes, in name order
        digest.update(f"{name}\0{len(raw)}\0".encode())
        digest.update(raw)
        texts[name] = (text, str(found[name]))
    dmesg = parse_dmesg(*texts["dmesg"]) if "dmesg" in texts else None
    meminfo = parse_meminfo(*texts["meminfo"]) if "meminfo" in texts else None
    slab: Slabinfo | None = None
    for name in ("slabinfo", "slabtop"):
        if name in texts and slab is None:
            slab = parse_slab_text(*texts[name])
    zoneinfo = parse_zoneinfo(*texts["zoneinfo"]) if "zoneinfo" in texts else None
    size = parse_size(*texts["size"]) if "size" in texts else None
    return Evidence(
        source=str(directory),
        sha256=digest.hexdigest(),
        dmesg=dmesg,
        meminfo=meminfo,
        slabinfo=slab,
        zoneinfo=zoneinfo,
        size=size,
    )


def _load_single(path: Path, raw: bytes, text: str) -> Evidence:
    source = str(path)
    digest = hashlib.sha256(raw).hexdigest()
    kind = path.name.split(".")[0]
    if kind == "meminfo":
        return Evidence(source=source, sha256=digest, meminfo=parse_meminfo(text, source))
    if kind in ("slabinfo", "slabtop"):
        return Evidence(source=source, sha256=digest, slabinfo=parse_slab_text(text, source))
    if kind == "zoneinfo":
        return Evidence(source=source, sha256=digest, zoneinfo=parse_zoneinfo(text, source))
    if kind == "size":
        return Evidence(source=source, sha256=digest, size=parse_size(text, source))
    if not text.strip():
        raise EvidenceError("expected a kernel log; found an empty file", file=source)
    return parse_bundle_text(text, source, sha256=digest)


def load_evidence(
    path: str | Path,
    *,
    memory_kib: int | None = None,
    vcpu_count: int | None = None,
    machine: str | None = None,
) -> Evidence:
    """Load one boot's evidence from a console capture, a directory or a bare dmesg file.

    Parameters
    ----------
    path
        See the module docstring for the accepted inputs.
    memory_kib
        Configured RAM (qemu ``-m``). [KiB] Overrides the manifest and inference.
    vcpu_count
        Online vCPUs. Overrides the manifest, which overrides the dump's
        ``/sys/devices/system/cpu/online``.
    machine
        qemu machine type (``pc``, ``q35``, ``s390-ccw-virtio``). Overrides the manifest.

    Returns
    -------
    Evidence
        With ``sha256`` of the raw bytes read (for a directory: of each file's
        name, length and bytes, in name order).

    Raises
    ------
    EvidenceError
        Unreadable or binary input, a bad manifest, or any parser's error.
    """
    p = Path(path)
    if p.is_dir():
        evidence = _load_directory(p)
    elif p.is_file():
        raw, text = _read_text(p)
        evidence = _load_single(p, raw, text)
    else:
        raise EvidenceError(
            "expected a log file or a directory of evidence files; found nothing there", file=p
        )
    facts = manifest_facts(p)
    manifest_vcpus = facts.vcpu_count if facts.vcpu_count is not None else evidence.vcpu_count
    evidence = replace(
        evidence,
        memory_kib=memory_kib if memory_kib is not None else facts.memory_kib,
        vcpu_count=vcpu_count if vcpu_count is not None else manifest_vcpus,
        machine=machine if machine is not None else facts.machine,
        guest_ram_resident_kib=facts.guest_ram_resident_kib,
    )
    if evidence.memory_kib is None:
        evidence = replace(evidence, memory_kib=infer_memory_kib(evidence))
    return evidence

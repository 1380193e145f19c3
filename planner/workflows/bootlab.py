"""``planner bootlab``: boot a real kernel under qemu at each size (:mod:`planner.bootlab`),
then, when asked, calibrate the kernel model on the logs (:mod:`.kernel`).

:func:`bootlab_request` checks the options before anything boots; :func:`run_bootlab` runs
the campaign and reports each boot to a progress callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from planner.bootlab.boots import BootRecord
from planner.bootlab.campaign import run_campaign
from planner.bootlab.lab import Accel
from planner.errors import InputError
from planner.evidence.manifest import MANIFEST_NAME
from planner.inputs.calibrations import LOCAL_KERNELS_DIR
from planner.results.bootlab import BootlabResult
from planner.units import parse_size_kib
from planner.workflows.kernel import calibrate_logs


@dataclass(frozen=True)
class BootlabRequest:
    """What ``planner bootlab`` was asked to boot, checked."""

    kernel: str  #: a vmlinuz path or a Debian package
    output: Path
    memory_kib: tuple[int, ...]
    vcpu_counts: tuple[int, ...]
    node_counts: tuple[int, ...]  #: NUMA nodes of each boot (qemu -numa)
    arch: str | None
    machine: str | None
    cmdline: str
    tag: str
    accel: Accel
    timeout_s: float
    jobs: int | None
    find_min_step_kib: int | None  #: bisect for the smallest bootable size at this resolution
    busybox: Path | None
    allow_system_changes: bool
    calibrate: str | None  #: then calibrate into ./profiles/kernels/NAME.yaml

    @property
    def boot_count(self) -> int:
        """Boots of a full campaign (every size at every vCPU and node count)."""
        return len(self.memory_kib) * len(self.vcpu_counts) * len(self.node_counts)


def _comma_list(text: str, parse: Callable[[str], int], field: str) -> tuple[int, ...]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"expected a comma-separated list; found {text!r}", field=field)
    return tuple(parse(t) for t in items)


def _positive_int(text: str, field: str = "--vcpus") -> int:
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"expected a positive whole number; found {text!r}", field=field)
    return int(text)


def bootlab_request(
    kernel: str,
    output: Path,
    *,
    memory: str,
    vcpus: str,
    numa_nodes: str = "1",
    accel: str,
    calibrate: str | None,
    find_min: bool,
    step: str,
    arch: str | None,
    machine: str | None,
    cmdline: str,
    tag: str,
    timeout_s: float,
    jobs: int | None,
    busybox: Path | None,
    allow_system_changes: bool,
) -> BootlabRequest:
    """The options of ``planner bootlab``, checked, with the comma lists (``--memory``,
    ``--vcpus``) parsed."""
    if accel not in ("auto", "tcg", "kvm"):
        raise InputError(f"expected auto, tcg or kvm; found {accel!r}", field="--accel")
    if calibrate is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", calibrate):
        raise InputError(
            f"expected a file name (letters, digits, . _ -); found {calibrate!r}", field="--calibrate"
        )
    sizes = _comma_list(memory, lambda t: parse_size_kib(t, field="--memory"), "--memory")
    counts = _comma_list(vcpus, _positive_int, "--vcpus")
    nodes = _comma_list(numa_nodes, lambda t: _positive_int(t, "--numa-nodes"), "--numa-nodes")
    return BootlabRequest(
        kernel=kernel,
        output=output,
        memory_kib=sizes,
        vcpu_counts=counts,
        node_counts=nodes,
        arch=arch,
        machine=machine,
        cmdline=cmdline,
        tag=tag,
        accel=accel,  # type: ignore[arg-type]  # checked above
        timeout_s=timeout_s,
        jobs=jobs,
        find_min_step_kib=parse_size_kib(step, field="--step") if find_min else None,
        busybox=busybox,
        allow_system_changes=allow_system_changes,
        calibrate=calibrate,
    )


def run_bootlab(
    request: BootlabRequest, progress: Callable[[BootRecord], None] | None = None
) -> BootlabResult:
    """Boot every size at every vCPU count (or bisect for the smallest), then calibrate."""
    r = request
    campaign = run_campaign(
        r.kernel, r.output, memory_kib=r.memory_kib, vcpu_counts=r.vcpu_counts,
        node_counts=r.node_counts, arch=r.arch, machine=r.machine, cmdline=r.cmdline, tag=r.tag,
        accel=r.accel, timeout_s=r.timeout_s,
        jobs=r.jobs, find_min_step_kib=r.find_min_step_kib, busybox=r.busybox,
        allow_system_changes=r.allow_system_changes, progress=progress,
    )  # fmt: skip
    calibrated = None
    if r.calibrate is not None:
        out = LOCAL_KERNELS_DIR / f"{r.calibrate}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)  # ./profiles/kernels, where names are looked up
        calibrated = calibrate_logs([r.output], name=r.calibrate, output=out)
    return BootlabResult(campaign, calibrated)


def interrupted_message(output: Path) -> str:
    """What an interrupted campaign leaves: the manifest of the boots that finished, if any."""
    manifest = output / MANIFEST_NAME
    done = f"{manifest} lists the finished boots" if manifest.is_file() else "no boot had finished"
    return f"interrupted; qemu killed; {done}"

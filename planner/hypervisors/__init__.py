"""Per-guest host overhead and host reserves of each virtualization stack.

One module per stack, each a set of pure functions whose docstrings cite their
source (``reference/overhead-formulas-and-peers.md``, ``reference/libvirt-recipes.md``):

=============  ==============================  ==================================================
model          module                          overhead per guest
=============  ==============================  ==================================================
``kvm-qemu``   :mod:`.kvm_qemu`                qemu process + per-vCPU + page tables (measured)
``xen-libxl``  :mod:`.xen`                     libxl shadow/P2M + extra, 2 MiB rounding (+ qemu)
``xen-xapi``   :mod:`.xen`                     xapi ``overhead_mib`` (XenServer / XCP-ng)
``zvm``        :mod:`.zvm`                     8 KiB PGMBK per MiB in use
``esxi``       :mod:`.esxi`                    the vSphere 6.5/6.7 table, interpolated
=============  ==============================  ==================================================

Parameter values come from ``profiles/hypervisors/*.yaml`` (read by
:mod:`planner.inputs.profiles`, each value with its ``source:``); this package only
turns a mapping of values into the typed, frozen parameters of a model
(:func:`build_params`) and evaluates the formulas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from planner.errors import InputError
from planner.hypervisors import esxi, kvm_qemu, xen, zvm
from planner.units import parse_size_kib

#: where the host kernel model applies: "node" = a Linux host kernel manages every node's RAM
#: (KVM); "none" = the host is not a Linux kernel (z/VM CP, VMkernel) or its Linux kernel lives
#: inside the hypervisor reserve (Xen dom0)
HostKernelScope = Literal["node", "none"]

#: how a parameter value is known: "published" (a document or source file states it),
#: "measured" (reference measurements), "derived" (computed from those), "estimate" (an
#: inference, not a measurement), "unknown" (no source found; a placeholder to measure)
ParameterKind = Literal["published", "measured", "derived", "estimate", "unknown"]
#: a parameter's value: a count or KiB, a factor, or a published table's rows and cells (esxi)
ParameterValue = int | float | tuple[int, ...] | tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Stack:
    """A hypervisor model: its parameter type and formulas."""

    model: str
    params_type: type[Any]
    overhead: Callable[[int, int, Any], int]
    reserve: Callable[[Sequence[int], int, Any], tuple[int, ...]]
    host_kernel_scope: HostKernelScope
    host_kernel_note: str
    #: the part of the reserve a capacity-only host pays (charged where the guests' processes
    #: are); None: nothing of it (dom0, CP, VMkernel, libvirtd live outside the capacity)
    capacity_reserve: Callable[[Any], int] | None = None


STACKS: dict[str, Stack] = {
    "kvm-qemu": Stack(
        "kvm-qemu",
        kvm_qemu.KvmQemuParams,
        kvm_qemu.host_overhead_kib,
        kvm_qemu.host_reserve_kib,
        "node",
        "the host's Linux kernel manages all RAM; its own overhead is subtracted per node",
        kvm_qemu.capacity_reserve_kib,
    ),
    "xen-libxl": Stack(
        "xen-libxl",
        xen.LibxlParams,
        xen.libxl_host_overhead_kib,
        xen.host_reserve_kib,
        "none",
        "dom0's Linux kernel lives inside the dom0 reserve; Xen itself is in xen_heap_kib",
    ),
    "xen-xapi": Stack(
        "xen-xapi",
        xen.XapiParams,
        xen.xapi_host_overhead_kib,
        xen.host_reserve_kib,
        "none",
        "dom0's Linux kernel lives inside the dom0 reserve; Xen itself is in xen_heap_kib",
    ),
    "zvm": Stack(
        "zvm",
        zvm.ZvmParams,
        zvm.host_overhead_kib,
        zvm.host_reserve_kib,
        "none",
        "z/VM CP, not Linux, manages the LPAR's storage; its own cost is cp_reserve_kib",
    ),
    "esxi": Stack(
        "esxi",
        esxi.EsxiParams,
        esxi.host_overhead_kib,
        esxi.host_reserve_kib,
        "none",
        "the VMkernel, not Linux, manages the host's RAM; its own cost is system_kib",
    ),
}


@dataclass(frozen=True)
class ParameterSource:
    """Where one parameter value comes from."""

    kind: ParameterKind
    source: str


@dataclass(frozen=True)
class HypervisorProfile:
    """A named hypervisor profile: a model, its parameter values and their sources."""

    name: str
    description: str
    model: str
    params: Any
    sources: Mapping[str, ParameterSource]
    #: the file it was read from (a shipped profile's too); None for one made in code
    path: str | None = None
    #: made by ``planner calibrate-host`` from a host's own qemu processes (its ``fit:``): on
    #: that host it stands for every guest of its model, whichever profile the guest lists
    measured_on_host: bool = False

    @property
    def stack(self) -> Stack:
        return STACKS[self.model]

    def host_overhead_kib(self, guest_memory_kib: int, vcpu_count: int) -> int:
        """Per-guest host overhead. [KiB]"""
        return self.stack.overhead(guest_memory_kib, vcpu_count, self.params)

    def host_cost_kib(self, guest_memory_kib: int, vcpu_count: int) -> int:
        """What one guest costs the host: its RAM plus the per-guest overhead. [KiB]"""
        return guest_memory_kib + self.host_overhead_kib(guest_memory_kib, vcpu_count)

    def host_reserve_kib(self, node_memory_kib: Sequence[int], cpu_count: int) -> tuple[int, ...]:
        """What the hypervisor itself keeps on each node (dom0, CP, VMkernel, daemons). [KiB]"""
        return self.stack.reserve(node_memory_kib, cpu_count, self.params)

    def capacity_reserve_kib(self) -> int:
        """What of the reserve a capacity-only host pays (qemu's shared file pages). [KiB]"""
        reserve = self.stack.capacity_reserve
        return reserve(self.params) if reserve is not None else 0

    @property
    def host_kernel_scope(self) -> HostKernelScope:
        return self.stack.host_kernel_scope

    def unknown_parameters(self) -> tuple[str, ...]:
        """Names of parameters with no published or measured value (placeholders)."""
        return tuple(name for name, src in self.sources.items() if src.kind == "unknown")


def _coerce(name: str, type_name: str, value: object) -> object:
    if isinstance(value, bool):
        raise InputError(f"expected a number; found {value!r}", field=name)
    if type_name == "int":
        if name.endswith("_kib") and isinstance(value, str):
            return parse_size_kib(value, field=name)
        if not isinstance(value, int) or value < 0:
            unit = " (KiB, or a size such as 50MiB)" if name.endswith("_kib") else ""
            raise InputError(f"expected a whole number >= 0{unit}; found {value!r}", field=name)
        return value
    if type_name == "float":
        if not isinstance(value, int | float) or value < 0:
            raise InputError(f"expected a number >= 0; found {value!r}", field=name)
        return float(value)
    if type_name.startswith("tuple[tuple["):
        if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
            raise InputError(f"expected a list of lists of numbers; found {value!r}", field=name)
        return tuple(tuple(_coerce(name, "float", v) for v in row) for row in value)
    if type_name.startswith("tuple["):
        inner = type_name.removeprefix("tuple[").split(",")[0]
        if not isinstance(value, list) or not value:
            raise InputError(f"expected a list of numbers; found {value!r}", field=name)
        return tuple(_coerce(name, inner, v) for v in value)
    raise TypeError(f"unsupported parameter type {type_name!r}")  # a bug in a Params class


def build_params(model: str, values: Mapping[str, object]) -> Any:
    """Typed, frozen parameters of ``model`` from plain values (as read from YAML).

    Raises
    ------
    InputError
        For an unknown model, an unknown or missing parameter, or a value of the wrong type;
        ``field`` names the parameter.
    """
    stack = STACKS.get(model)
    if stack is None:
        raise InputError(f"expected one of {', '.join(sorted(STACKS))}; found {model!r}", field="model")
    all_fields = dataclasses.fields(stack.params_type)
    fields = {f.name: str(f.type) for f in all_fields}
    optional = {f.name for f in all_fields if f.default is not dataclasses.MISSING}
    for name in values:
        if name not in fields:
            raise InputError(
                f"unknown parameter for model {model}; expected one of {', '.join(fields)}; found {name!r}",
                field=name,
            )
    missing = [name for name in fields if name not in values and name not in optional]
    if missing:
        raise InputError(f"model {model} needs parameter(s) {', '.join(missing)}", field=missing[0])
    kwargs = {name: _coerce(name, fields[name], values[name]) for name in fields if name in values}
    return stack.params_type(**kwargs)  # whose checks raise InputError with the field

"""The schema of host files and profiles: pydantic models (``extra="forbid"``) and their errors.

:func:`validate` turns a model's first validation error into one located
:class:`~planner.errors.InputError` (file, line, dotted field) that says what was expected
and what was found; :func:`host_file_schema` is ``planner schema``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError, WithJsonSchema
from pydantic.config import JsonDict

from planner.errors import InputError
from planner.inputs.yaml import LineMap, dotted, line_of
from planner.units import MAX_CPU_COUNT, MAX_MEMORY_KIB, check_memory_kib, parse_size_kib, size_label_kib

#: Most NUMA nodes accepted: 1024 (``NODES_SHIFT`` max 10, arch/x86/Kconfig @ v6.1).
MAX_NUMA_NODES = 1024

SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([KkMmGgTtPp]i?[Bb]?|[Bb])\s*$"
_SIZE_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": SIZE_PATTERN, "examples": ["64GiB", "128MiB", "65536k"]}
)


# --- validation with located errors ---------------------------------------------------------------
def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc`` (for 'unknown field' messages)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(current, type) and issubclass(current, BaseModel))
            or part not in current.model_fields
        ):
            return None
        annotation = current.model_fields[part].annotation
        current = _first_model(annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def validate(model: type[BaseModel], data: Any, lines: LineMap, file: str) -> Any:
    """``model.model_validate(data)`` with the first error turned into a located InputError."""
    if data is None:
        raise InputError("expected a YAML mapping; found an empty file", file=file, line=1)
    if not isinstance(data, dict):
        raise InputError(
            f"expected a YAML mapping at the top; found {type(data).__name__}", file=file, line=1
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
        raise InputError(
            _message(model, first, loc), file=file, line=line_of(lines, loc), field=dotted(loc)
        ) from None


def _message(model: type[BaseModel], error: Any, loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    found = error.get("input")
    if kind == "missing":
        return "required field is missing; expected a value"
    if kind == "extra_forbidden":
        holder = _model_at(model, loc)
        allowed = f"; expected one of {', '.join(holder.model_fields)}" if holder else ""
        return f"unknown field{allowed}"
    if kind == "model_type":  # pydantic says "a valid dictionary or instance of HostModel"
        holder = _model_at(model, (*loc, ""))
        keys = f" with keys such as {', '.join(holder.model_fields)}" if holder else ""
        return f"expected a mapping{keys}; found {found!r}"
    plain = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false"}
    if kind in plain:
        return f"expected {plain[kind]}; found {found!r}"
    msg = str(error["msg"])
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "too_short":
        return f"expected at least {error.get('ctx', {}).get('min_length', 1)} entry; found {found!r}"
    msg = re.sub(r"^Input should be ", "expected ", msg)
    msg = re.sub(r"^Input ", "expected input ", msg)
    return f"{msg}; found {found!r}"


# --- field types ----------------------------------------------------------------------------------
def _bare_number_hint(value: int) -> str:
    """What a size written without a unit probably meant: a byte count that is a whole number of
    MiB (``68719476736`` = 64GiB), else the number in MiB or KiB when that is a size at all."""
    if value > 0 and value % (1024 * 1024) == 0:
        label = size_label_kib(value // 1024)
        return f"expected a size with a unit; found {value} ({value} bytes = {label}: write {label})"
    if 0 < value * 1024 <= MAX_MEMORY_KIB:
        return f"expected a size with a unit, such as {value}MiB or {value}KiB; found {value!r}"
    return f"expected a size with a unit, such as 64GiB; found {value!r}"


def _size(value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a size such as 64GiB, 128MiB or 65536k; found {value!r}")
    if isinstance(value, int):
        if value < 0 or (value == 0 and not allow_zero):
            least = "0 or more" if allow_zero else "a positive size"
            raise ValueError(f"expected {least} such as 64GiB; found {value}")
        if value == 0:
            return 0
        raise ValueError(_bare_number_hint(value))
    try:
        return check_memory_kib(parse_size_kib(value, allow_zero=allow_zero))
    except InputError as err:
        raise ValueError(err.message) from None


def _reserve(value: Any) -> int:
    return _size(value, allow_zero=True)


def _size_or_auto(value: Any) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    return _size(value)


SizeKiB = Annotated[int, BeforeValidator(_size), _SIZE_SCHEMA]
#: a size that may be 0 (a reserve: ``hypervisor_reserve: 0MiB``)
ReserveKiB = Annotated[int, BeforeValidator(_reserve), _SIZE_SCHEMA]
#: a whole number; YAML's ``true``/``yes`` (a bool) and ``1.5`` are refused, not taken as 1
Count = Annotated[int, Strict()]
#: a number; ``true`` is refused, not taken as 1.0
Number = Annotated[float, Strict()]
#: true or false; ``1`` is refused
Flag = Annotated[bool, Strict()]
SizeOrAuto = Annotated[
    int | Literal["auto"],
    BeforeValidator(_size_or_auto),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": SIZE_PATTERN}, {"const": "auto"}],
            "examples": ["256MiB", "auto"],
        }
    ),
]


def _guest_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable() or len(value) > 100:
        raise ValueError(f"expected a name of 1 to 100 printable characters; found {value!r}")
    return value


GuestName = Annotated[
    str,
    BeforeValidator(_guest_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100, "examples": ["web-big"]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkloadModel(_Strict):
    """What the application in a guest needs: resident user memory and threads."""

    user_memory: SizeKiB = Field(description="Resident memory the application needs, e.g. 200MiB.")
    threads: Count = Field(
        default=1, ge=1, le=1_000_000, description="Threads it runs (16 KiB kernel stack each)."
    )
    source: str | None = Field(default=None, description="Where the numbers come from.")


class HugepagesModel(_Strict):
    """A hugepage pool reserved on every NUMA node for guests marked ``hugepages: true``."""

    page_size: Literal["2MiB", "1GiB"] = Field(description="Hugepage size: 2MiB or 1GiB.")
    per_node: SizeKiB = Field(description="Pool size on each node, e.g. 16GiB (a multiple of page_size).")


#: the two forms of a host (``planner schema`` states that a host takes one of them)
_ONE_FORM: JsonDict = {
    "not": {
        "anyOf": [
            {"required": [ram, cap]}
            for ram in ("memory", "node_memory")
            for cap in ("capacity", "node_capacity")
        ]
    }
}


class HostModel(_Strict):
    """The host: RAM, NUMA nodes, CPUs, host kernel and hypervisor; or, for a capacity-only host,
    the memory its guests may take (``capacity:``) instead of RAM and a host kernel."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_ONE_FORM)

    memory: SizeKiB | None = Field(default=None, description="Total RAM, e.g. 64GiB (or give node_memory).")
    node_memory: list[SizeKiB] | None = Field(
        default=None, min_length=1, description="RAM of each NUMA node; default: memory split evenly."
    )
    capacity: SizeKiB | None = Field(
        default=None,
        description="A capacity-only host, instead of memory: what guests and their hypervisor overhead may "
        "take, e.g. 1536MiB (a cgroup's memory.max, a systemd slice's MemoryMax=, a Kubernetes node's "
        "allocatable memory); no host kernel and no hypervisor reserve come off it. Split evenly over "
        "numa_nodes (default 1).",
    )
    node_capacity: list[SizeKiB] | None = Field(
        default=None,
        min_length=1,
        description="A capacity-only host's capacity on each NUMA node, instead of node_memory.",
    )
    numa_nodes: Count | None = Field(
        default=None, ge=1, le=MAX_NUMA_NODES, description="NUMA nodes (default 1)."
    )
    cpus: Count = Field(ge=1, le=MAX_CPU_COUNT, description="Host CPUs (threads) guests' vCPUs share.")
    kernel: str | None = Field(
        default=None,
        description="Host kernel calibration (see `planner profiles`); needed for Linux hosts (KVM), "
        "not taken by a capacity-only host.",
    )
    cmdline: str = Field(default="", description="Host kernel command line (crashkernel=, hash sizes ...).")
    hypervisor: str = Field(description="Hypervisor profile, e.g. kvm-qemu, xen-pv, zvm, esxi.")
    operator_reserve: ReserveKiB | None = Field(
        default=None, description="Memory the operator keeps back on the host, split evenly over the nodes."
    )
    hypervisor_reserve: ReserveKiB | None = Field(
        default=None,
        description="Overrides the hypervisor profile's own reserve (dom0, CP, VMkernel); "
        "none on a capacity-only host unless given.",
    )
    vcpu_ratio: Number = Field(
        default=16.0,
        gt=0,
        le=1000,
        description="vCPUs allowed per host CPU (default 16.0, OpenStack Nova's cpu_allocation_ratio).",
    )
    hugepages: HugepagesModel | None = None


class GuestEntryModel(_Strict):
    """One guest profile to pack, with optional bounds, weight and overrides."""

    profile: str = Field(
        description="Guest profile name (see `planner profiles`) or a path to a profile YAML."
    )
    name: GuestName | None = Field(
        default=None,
        description="This guest's name in tables, JSON and reports (default: the profile's name); unique "
        "in the host file, so one profile can be planned twice with different overrides.",
    )
    min: Count = Field(
        default=0, ge=0, le=10_000_000, description="At least this many guests of this profile."
    )
    max: Count | None = Field(default=None, ge=0, le=10_000_000, description="At most this many.")
    weight: Number = Field(
        default=1.0, gt=0, le=1e6, description="Value of one guest for objective max_weight."
    )
    hugepages: Flag = Field(default=False, description="Back guest RAM with the host's hugepage pool.")
    memory: SizeOrAuto | None = Field(
        default=None,
        description="Overrides the profile's size; 'auto' = smallest size that fits the workload.",
    )
    vcpus: Count | None = Field(
        default=None, ge=1, le=MAX_CPU_COUNT, description="Overrides the profile's vCPUs."
    )
    workload: WorkloadModel | None = Field(default=None, description="Overrides the profile's workload.")


class ScenarioModel(_Strict):
    """A named overcommit scenario, planned beside the guaranteed count."""

    name: str = Field(min_length=1, description="Shown beside the guaranteed count, e.g. ksm-and-balloon.")
    resident: Literal["full", "expected"] = Field(
        default="full",
        description="Guest RAM resident on the host: full size, or expected = boot footprint + workload.",
    )
    ksm_shared: ReserveKiB | None = Field(
        default=None,
        description="Memory per guest that KSM merges with other guests (identical kernel pages).",
    )
    balloon_percent: Number = Field(
        default=0,
        ge=0,
        lt=100,
        description="Share of each guest's RAM the balloon takes back (never below the workload).",
    )
    memory_ratio: Number = Field(
        default=1.0,
        ge=1.0,
        le=100,
        description="Allocation ratio over each node's capacity (Nova ram_allocation_ratio).",
    )


class HostFileModel(_Strict):
    """A host file: ``planner fit host.yaml``."""

    host: HostModel
    guests: list[GuestEntryModel] = Field(min_length=1, description="Guest profiles to pack onto the host.")
    objective: Literal["max_guests", "max_weight"] = Field(
        default="max_guests", description="max_guests: most guests; max_weight: largest sum of weights."
    )
    scenario: ScenarioModel | None = None


class GuestProfileModel(_Strict):
    """A guest profile file (``profiles/guests/*.yaml``)."""

    name: str
    description: str
    kernel: str
    hypervisors: list[str] = Field(min_length=1)
    memory: SizeOrAuto
    vcpus: Count = Field(ge=1, le=MAX_CPU_COUNT)
    machine: str | None = None
    cmdline: str = ""
    boot_footprint: SizeKiB | None = None
    workload: WorkloadModel | None = None
    sources: dict[str, str]


class ParameterModel(_Strict):
    value: Any
    kind: Literal["published", "measured", "derived", "estimate", "unknown"]
    source: str = Field(min_length=1)


class FitDomainModel(_Strict):
    """One measured domain of a ``planner calibrate-host`` fit, with its residual."""

    uri: str
    name: str
    memory_kib: int = Field(ge=1)
    vcpus: int = Field(ge=1, le=MAX_CPU_COUNT)
    measured_kib: int = Field(description="qemu process RSS - resident guest RAM + page tables.")
    predicted_kib: int = Field(description="The profile's qemu-process overhead (libvirtd's share apart).")
    residual_kib: int = Field(description="measured - predicted.")


class HypervisorFitModel(_Strict):
    """How ``planner calibrate-host`` made a hypervisor profile: hosts, date, terms, residuals."""

    command: str
    date: str
    base: str = Field(description="The profile whose values were kept for the terms not fitted.")
    fitted: list[str]
    kept: dict[str, str] = Field(description="Parameter -> why the base's value was kept.")
    rms_residual_kib: float
    domains: list[FitDomainModel] = Field(min_length=1)


class HypervisorProfileModel(_Strict):
    """A hypervisor profile file (``profiles/hypervisors/*.yaml``)."""

    name: str
    description: str
    model: str
    parameters: dict[str, ParameterModel]
    fit: HypervisorFitModel | None = Field(default=None, description="Set by planner calibrate-host.")


def host_file_schema() -> dict[str, Any]:
    """JSON schema of a host file (``planner schema``)."""
    schema = HostFileModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planner host file"
    return schema

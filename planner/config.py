"""The only YAML reader: host files, guest profiles and hypervisor profiles.

Every file goes ``yaml`` (a loader that records the line of every key and refuses
duplicate keys) -> pydantic model (``extra="forbid"``) -> frozen dataclass. Every
error is an :class:`~planner.errors.InputError` with file, line and field, saying
what was expected and what was found::

    host.yaml:4: host.memory: expected a positive size; found '-5MiB'

Guest and hypervisor profiles ship inside the package (``planner.profiles``,
mapped from ``profiles/`` in ``pyproject.toml``) and are read with
``importlib.resources``; a profile name may also be a path to a YAML file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

from planner import data_dir
from planner.errors import InputError
from planner.hypervisors import HypervisorProfile, ParameterSource, build_params
from planner.kernel.calibration import Calibration, list_calibrations, load_calibration
from planner.units import KIB_PER_MIB, KIB_PER_TIB, format_kib, parse_size_kib

#: Largest host RAM accepted: 4 PiB, the x86-64 physical address limit with 5-level paging
#: (``MAX_PHYSMEM_BITS`` = 52, arch/x86/include/asm/sparsemem.h @ v6.1).
MAX_HOST_MEMORY_KIB = 4 * 1024 * KIB_PER_TIB
#: Most CPUs accepted: 8192, the largest ``NR_CPUS`` (``MAXSMP``, arch/x86/Kconfig @ v6.1).
MAX_CPU_COUNT = 8192
#: Most NUMA nodes accepted: 1024 (``NODES_SHIFT`` max 10, arch/x86/Kconfig @ v6.1).
MAX_NUMA_NODES = 1024

SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([KkMmGgTt]i?[Bb]?|[Bb])\s*$"
_SIZE_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": SIZE_PATTERN, "examples": ["64GiB", "128MiB", "65536k"]}
)

LineMap = dict[tuple[str | int, ...], int]


# --- YAML with lines ------------------------------------------------------------------------------
def _walk(node: yaml.Node, path: tuple[str | int, ...], lines: LineMap, file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = _dotted((*path, key))
                raise InputError(
                    f"duplicate key {key!r}; expected each key once (first at line {seen[key]})",
                    file=file,
                    line=line,
                    field=dotted,
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file)


def load_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse YAML text; return the data and a map from key path to 1-based line.

    Raises
    ------
    InputError
        For a syntax error (with its line) or a duplicate key (with the line of the second one).
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: LineMap = {}
        _walk(node, (), lines, file)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        raise InputError(
            f"YAML syntax error: {problem}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except yaml.YAMLError as err:
        raise InputError(f"YAML error: {err}", file=file) from None
    finally:
        loader.dispose()


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(lines: LineMap, loc: Sequence[str | int]) -> int | None:
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None


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


def _validate(model: type[BaseModel], data: Any, lines: LineMap, file: str) -> Any:
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
            _message(model, first, loc), file=file, line=_line_of(lines, loc), field=_dotted(loc)
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
    msg = str(error["msg"])
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "too_short":
        return f"expected at least {error.get('ctx', {}).get('min_length', 1)} entry; found {found!r}"
    msg = re.sub(r"^Input should be ", "expected ", msg)
    msg = re.sub(r"^Input ", "expected input ", msg)
    return f"{msg}; found {found!r}"


# --- field types ----------------------------------------------------------------------------------
def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a size such as 64GiB, 128MiB or 65536k; found {value!r}")
    if isinstance(value, int):
        raise ValueError(f"expected a size with a unit, such as {value}MiB or {value}KiB; found {value!r}")
    try:
        return parse_size_kib(value)
    except InputError as err:
        raise ValueError(err.message) from None


def _size_or_auto(value: Any) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    return _size(value)


SizeKiB = Annotated[int, BeforeValidator(_size), _SIZE_SCHEMA]
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
    threads: int = Field(
        default=1, ge=1, le=1_000_000, description="Threads it runs (16 KiB kernel stack each)."
    )
    source: str | None = Field(default=None, description="Where the numbers come from.")


class HugepagesModel(_Strict):
    """A hugepage pool reserved on every NUMA node for guests marked ``hugepages: true``."""

    page_size: Literal["2MiB", "1GiB"] = Field(description="Hugepage size: 2MiB or 1GiB.")
    per_node: SizeKiB = Field(description="Pool size on each node, e.g. 16GiB (a multiple of page_size).")


class HostModel(_Strict):
    """The host: RAM, NUMA nodes, CPUs, host kernel and hypervisor."""

    memory: SizeKiB | None = Field(default=None, description="Total RAM, e.g. 64GiB (or give node_memory).")
    node_memory: list[SizeKiB] | None = Field(
        default=None, min_length=1, description="RAM of each NUMA node; default: memory split evenly."
    )
    numa_nodes: int | None = Field(
        default=None, ge=1, le=MAX_NUMA_NODES, description="NUMA nodes (default 1)."
    )
    cpus: int = Field(ge=1, le=MAX_CPU_COUNT, description="Host CPUs (threads) guests' vCPUs share.")
    kernel: str | None = Field(
        default=None,
        description="Host kernel calibration (see `planner profiles`); needed for Linux hosts (KVM).",
    )
    cmdline: str = Field(default="", description="Host kernel command line (crashkernel=, hash sizes ...).")
    hypervisor: str = Field(description="Hypervisor profile, e.g. kvm-qemu, xen-pv, zvm, esxi.")
    operator_reserve: SizeKiB | None = Field(
        default=None, description="Memory the operator keeps back on the host, split evenly over the nodes."
    )
    hypervisor_reserve: SizeKiB | None = Field(
        default=None, description="Overrides the hypervisor profile's own reserve (dom0, CP, VMkernel)."
    )
    vcpu_ratio: float = Field(
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
    min: int = Field(default=0, ge=0, le=10_000_000, description="At least this many guests of this profile.")
    max: int | None = Field(default=None, ge=0, le=10_000_000, description="At most this many.")
    weight: float = Field(
        default=1.0, gt=0, le=1e6, description="Value of one guest for objective max_weight."
    )
    hugepages: bool = Field(default=False, description="Back guest RAM with the host's hugepage pool.")
    memory: SizeOrAuto | None = Field(
        default=None,
        description="Overrides the profile's size; 'auto' = smallest size that fits the workload.",
    )
    vcpus: int | None = Field(
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
    ksm_shared: SizeKiB | None = Field(
        default=None,
        description="Memory per guest that KSM merges with other guests (identical kernel pages).",
    )
    balloon_percent: float = Field(
        default=0,
        ge=0,
        lt=100,
        description="Share of each guest's RAM the balloon takes back (never below the workload).",
    )
    memory_ratio: float = Field(
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
    vcpus: int = Field(ge=1, le=MAX_CPU_COUNT)
    machine: str | None = None
    cmdline: str = ""
    boot_footprint: SizeKiB | None = None
    workload: WorkloadModel | None = None
    sources: dict[str, str]


class ParameterModel(_Strict):
    value: Any
    kind: Literal["published", "measured", "derived", "estimate", "unknown"]
    source: str = Field(min_length=1)


class HypervisorProfileModel(_Strict):
    """A hypervisor profile file (``profiles/hypervisors/*.yaml``)."""

    name: str
    description: str
    model: str
    parameters: dict[str, ParameterModel]


# --- frozen results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """Where a value was read: file and 1-based line."""

    file: str
    line: int | None


@dataclass(frozen=True)
class Workload:
    """Resident user memory and threads an application needs in its guest."""

    user_memory_kib: int
    thread_count: int
    source: str | None
    origin: Origin


@dataclass(frozen=True)
class GuestProfile:
    """A guest profile as read from its file."""

    name: str
    description: str
    kernel: str
    hypervisors: tuple[str, ...]
    memory_kib: int | Literal["auto"]
    vcpu_count: int
    machine: str | None
    cmdline: str
    boot_footprint_kib: int | None
    workload: Workload | None
    sources: Mapping[str, str]
    origin: Origin
    key_lines: Mapping[str, int]

    def origin_of(self, key: str) -> Origin:
        """File and line of one top-level key of the profile."""
        return Origin(self.origin.file, self.key_lines.get(key, self.origin.line))


@dataclass(frozen=True)
class Hugepages:
    """The host's hugepage pool on each node."""

    page_kib: int
    per_node_kib: int


@dataclass(frozen=True)
class HostSpec:
    """The host of a host file, with node memory resolved."""

    node_memory_kib: tuple[int, ...]
    cpu_count: int
    kernel: Calibration | None
    cmdline: str
    hypervisor: HypervisorProfile
    operator_reserve_kib: int
    hypervisor_reserve_kib: int | None
    vcpu_ratio: float
    hugepages: Hugepages | None
    origin: Origin
    #: line of each key under ``host:`` (``operator_reserve``, ``hugepages.per_node`` ...)
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def memory_kib(self) -> int:
        return sum(self.node_memory_kib)

    def origin_of(self, key: str) -> Origin:
        """File and line of one key under ``host:`` (dotted below it: ``hugepages.per_node``)."""
        return Origin(self.origin.file, self.key_lines.get(key, self.origin.line))


@dataclass(frozen=True)
class GuestRequest:
    """One entry of a host file's ``guests`` list, overrides applied to its profile."""

    profile: GuestProfile
    calibration: Calibration
    hypervisor: HypervisorProfile
    memory_kib: int | Literal["auto"]
    vcpu_count: int
    workload: Workload | None
    min_count: int
    max_count: int | None
    weight: float
    hugepages: bool
    origin: Origin
    #: where the size was stated: the host file's ``memory:`` override, or the profile's
    memory_origin: Origin | None = None
    #: the entry's ``name:`` (unique in its host file), the profile's name when not given
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.profile.name)


@dataclass(frozen=True)
class Scenario:
    """A named overcommit scenario."""

    name: str
    resident: Literal["full", "expected"]
    ksm_shared_kib: int
    balloon_percent: float
    memory_ratio: float
    #: where ``ksm_shared`` was stated (its bound depends on the guest sizes, checked by ``fit``)
    ksm_shared_origin: Origin | None = None


@dataclass(frozen=True)
class HostFile:
    """A validated host file."""

    path: str
    host: HostSpec
    guests: tuple[GuestRequest, ...]
    objective: Literal["max_guests", "max_weight"]
    scenario: Scenario | None


# --- profiles -------------------------------------------------------------------------------------
def _profile_dir(kind: str) -> Path:
    return data_dir("profiles") / kind


def list_profile_names(kind: Literal["guests", "hypervisors"]) -> list[str]:
    """Names of the profiles of one kind shipped with the planner, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _profile_dir(kind).iterdir()
        if entry.name.endswith(".yaml")
    )


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file, or an :class:`InputError` naming the file.

    A file that cannot be read says why (``expected a readable host file; found No such file
    or directory``); one that is not UTF-8 (Latin-1, a binary file) names the line of the first
    byte that is not: YAML 1.2 streams are Unicode (yaml.org/spec/1.2.2 §5.2).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"expected a readable {what}; found {err.strerror or err}", file=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"expected a {what} in UTF-8; found byte 0x{data[err.start]:02x}, which is not UTF-8 "
            "(a binary file, or text saved as Latin-1?)",
            file=path,
            line=data.count(b"\n", 0, err.start) + 1,
        ) from None


def is_path_name(name: str) -> bool:
    """A profile or calibration named by a path (``my.yaml``, ``sub/x``) rather than by name."""
    return name.endswith((".yaml", ".yml")) or "/" in name


def beside(name: str, file: str | Path | None) -> str:
    """A relative path written in ``file``, taken from ``file``'s directory (as editors, YAML
    language servers and docker-compose resolve them); names and absolute paths unchanged."""
    if file is None or not is_path_name(name) or Path(name).is_absolute():
        return name
    return str(Path(file).parent / name)


def _read_profile(
    kind: Literal["guests", "hypervisors"], name: str, named_in: str | None = None
) -> tuple[str, str]:
    """(file, text) of a profile given by name or path; a relative path named in the file
    ``named_in`` is taken from that file's directory."""
    what = "guest profile" if kind == "guests" else "hypervisor profile"
    if is_path_name(name):
        path = Path(beside(name, named_in))
        if not path.is_file():
            tried = (
                ""
                if str(path) == name
                else f" (looked for {str(path)!r}: a relative path is taken from the directory of {named_in})"
            )
            state = "a directory" if path.is_dir() else "no file"
            raise InputError(f"expected a profile YAML file; found {state} {name!r}{tried}")
        return str(path), read_text_file(path, what)
    entry = _profile_dir(kind) / f"{name}.yaml"
    if not entry.is_file():
        known = ", ".join(list_profile_names(kind))
        what = "guest profile" if kind == "guests" else "hypervisor"
        raise InputError(f"unknown {what} {name!r}; expected one of: {known}")
    return str(entry), read_text_file(entry, what)


def _workload(model: WorkloadModel | None, file: str, line: int | None) -> Workload | None:
    if model is None:
        return None
    return Workload(model.user_memory, model.threads, model.source, Origin(file, line))


def load_guest_profile(name: str, named_in: str | None = None) -> GuestProfile:
    """Read a guest profile by name (``profiles/guests/NAME.yaml``) or path (relative to the
    directory of the file ``named_in`` that names it, if any)."""
    file, text = _read_profile("guests", name, named_in)
    data, lines = load_yaml(text, file)
    model: GuestProfileModel = _validate(GuestProfileModel, data, lines, file)
    numbers = ["memory", "vcpus"] + [
        k for k in ("boot_footprint", "workload") if getattr(model, k) is not None
    ]
    for key in numbers:
        if key not in model.sources:
            raise InputError(
                f"expected a source for every number; found none for {key!r}",
                file=file,
                line=lines.get(("sources",), lines.get((key,))),
                field=f"sources.{key}",
            )
    if model.memory == "auto" and model.workload is None:
        raise InputError(
            "memory: auto needs a workload to size the guest for",
            file=file,
            line=lines.get(("memory",)),
            field="memory",
        )
    return GuestProfile(
        name=model.name,
        description=model.description,
        kernel=model.kernel,
        hypervisors=tuple(model.hypervisors),
        memory_kib=model.memory,
        vcpu_count=model.vcpus,
        machine=model.machine,
        cmdline=model.cmdline,
        boot_footprint_kib=model.boot_footprint,
        workload=_workload(model.workload, file, lines.get(("workload",))),
        sources=dict(model.sources),
        origin=Origin(file, 1),
        key_lines={str(k[0]): v for k, v in lines.items() if len(k) == 1},
    )


def load_hypervisor_profile(name: str, named_in: str | None = None) -> HypervisorProfile:
    """Read a hypervisor profile by name (``profiles/hypervisors/NAME.yaml``) or path (relative
    to the directory of the file ``named_in`` that names it, if any)."""
    file, text = _read_profile("hypervisors", name, named_in)
    data, lines = load_yaml(text, file)
    model: HypervisorProfileModel = _validate(HypervisorProfileModel, data, lines, file)
    try:
        params = build_params(model.model, {k: p.value for k, p in model.parameters.items()})
    except InputError as err:
        key = err.field or ""
        loc: tuple[str, ...] = ("model",) if key == "model" else ("parameters", key)
        raise InputError(
            err.message, file=file, line=_line_of(lines, (*loc, "value")), field=_dotted(loc)
        ) from None
    sources = {k: ParameterSource(kind=p.kind, source=p.source) for k, p in model.parameters.items()}
    return HypervisorProfile(
        name=model.name, description=model.description, model=model.model, params=params, sources=sources
    )


def describe_profiles(kind: Literal["guests", "hypervisors"]) -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped profile of one kind."""
    out = []
    for name in list_profile_names(kind):
        file, text = _read_profile(kind, name)
        data, _ = load_yaml(text, file)
        description = data.get("description", "") if isinstance(data, dict) else ""
        out.append((name, str(description)))
    return out


# --- host files -----------------------------------------------------------------------------------
def _node_memory(model: HostModel, lines: LineMap, file: str) -> tuple[int, ...]:
    def fail(message: str, key: str) -> InputError:
        return InputError(message, file=file, line=_line_of(lines, ("host", key)), field=f"host.{key}")

    if model.node_memory is not None:
        nodes = tuple(model.node_memory)
        if model.numa_nodes is not None and model.numa_nodes != len(nodes):
            raise fail(
                f"expected {len(nodes)} (the entries of node_memory); found {model.numa_nodes}",
                "numa_nodes",
            )
        if model.memory is not None and model.memory != sum(nodes):
            raise fail(
                f"expected the sum of node_memory ({format_kib(sum(nodes))}); "
                f"found {format_kib(model.memory)}",
                "memory",
            )
    else:
        if model.memory is None:
            raise fail("required field is missing; expected host.memory (or host.node_memory)", "memory")
        count = model.numa_nodes or 1
        if model.memory < count * KIB_PER_MIB:
            raise fail(
                f"expected at least 1MiB per NUMA node; found {format_kib(model.memory)} for {count} nodes",
                "memory",
            )
        base, extra = divmod(model.memory, count)
        nodes = tuple(base + (1 if k < extra else 0) for k in range(count))
    if sum(nodes) > MAX_HOST_MEMORY_KIB:
        raise fail(
            f"expected at most 4PiB (the x86-64 physical address limit); found {format_kib(sum(nodes))}",
            "memory",
        )
    return nodes


@functools.lru_cache(maxsize=32)
def _load_calibration_cached(name: str) -> Calibration:
    """Calibrations are frozen: each is read once per process (a host file names the same few)."""
    return load_calibration(name)


def located(err: InputError, origin: Origin, field: str) -> InputError:
    """``err`` if it already names its file, else the same error at ``origin``, ``field``.

    A profile or calibration named in a host file fails either inside its own file (which the
    error names) or as a name that does not resolve: then the host file's line is the place.
    """
    if err.file is not None:
        return err
    return type(err)(err.message, file=origin.file, line=origin.line, field=field)


def _calibration(name: str, origin: Origin, field: str) -> Calibration:
    """The calibration ``name`` (a relative path is taken from the directory of the file that
    names it, ``origin.file``)."""
    try:
        return _load_calibration_cached(beside(name, origin.file))
    except InputError as err:
        raise located(err, origin, field) from None


def guest_hypervisor(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> HypervisorProfile | None:
    """The hypervisor profile a guest runs under on this host, or None if it cannot run there.

    The host's own profile if the guest lists it; else the first profile the guest lists that
    has the same model (a Xen host runs PV and HVM guests: ``xen-pv`` and ``xen-hvm`` share the
    ``xen-libxl`` model; the host's reserves still come from the host's profile).
    """
    if host_hypervisor.name in profile.hypervisors:
        return host_hypervisor
    for name in profile.hypervisors:
        if name in list_profile_names("hypervisors"):
            candidate = load_hypervisor_profile(name)
            if candidate.model == host_hypervisor.model:
                return candidate
    return None


def wrong_hypervisor_message(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> str:
    """Why a guest profile cannot run under a host's hypervisor, and the shipped ones that can."""
    fitting = [
        name
        for name in list_profile_names("guests")
        if guest_hypervisor(load_guest_profile(name), host_hypervisor) is not None
    ]
    return (
        f"profile {profile.name!r} runs under {', '.join(profile.hypervisors)}; expected a profile for "
        f"{host_hypervisor.name} (one of: {', '.join(fitting) or 'none shipped'})"
    )


def _guest_request(
    entry: GuestEntryModel,
    index: int,
    lines: LineMap,
    file: str,
    hypervisor: HypervisorProfile,
    cpu_count: int,
) -> GuestRequest:
    line = _line_of(lines, ("guests", index))
    profile_origin = Origin(file, _line_of(lines, ("guests", index, "profile")))
    try:
        profile = load_guest_profile(entry.profile, named_in=file)
    except InputError as err:
        raise located(err, profile_origin, f"guests[{index}].profile") from None
    under = guest_hypervisor(profile, hypervisor)
    if under is None:
        raise InputError(
            wrong_hypervisor_message(profile, hypervisor),
            file=file,
            line=profile_origin.line,
            field=f"guests[{index}].profile",
        )
    calibration = _calibration(profile.kernel, profile.origin_of("kernel"), "kernel")
    if entry.max is not None and entry.max < entry.min:
        raise InputError(
            f"expected max >= min ({entry.min}); found {entry.max}",
            file=file,
            line=_line_of(lines, ("guests", index, "max")),
            field=f"guests[{index}].max",
        )
    vcpu_count = entry.vcpus if entry.vcpus is not None else profile.vcpu_count
    # Nova's VCPU inventory has max_unit = the host's CPUs and placement refuses a request above
    # max_unit (overhead-formulas-and-peers.md §1.7): a guest wider than its host is not planned.
    if vcpu_count > cpu_count:
        overridden = entry.vcpus is not None
        raise InputError(
            f"expected at most the host's {cpu_count} CPUs; found {vcpu_count} vCPUs"
            + ("" if overridden else f" in profile {profile.name!r} (override them with vcpus:)"),
            file=file,
            line=_line_of(lines, ("guests", index, "vcpus" if overridden else "profile")),
            field=f"guests[{index}].{'vcpus' if overridden else 'profile'}",
        )
    workload = profile.workload
    if entry.workload is not None:
        workload = _workload(entry.workload, file, _line_of(lines, ("guests", index, "workload")))
    memory = entry.memory if entry.memory is not None else profile.memory_kib
    if memory == "auto" and workload is None:
        raise InputError(
            "memory: auto needs a workload to size the guest for",
            file=file,
            line=_line_of(lines, ("guests", index, "memory")),
            field=f"guests[{index}].memory",
        )
    return GuestRequest(
        profile=profile,
        calibration=calibration,
        hypervisor=under,
        memory_kib=memory,
        vcpu_count=vcpu_count,
        workload=workload,
        min_count=entry.min,
        max_count=entry.max,
        weight=entry.weight,
        hugepages=entry.hugepages,
        origin=Origin(file, line),
        memory_origin=Origin(file, _line_of(lines, ("guests", index, "memory")))
        if entry.memory is not None
        else profile.origin_of("memory"),
        name=entry.name or profile.name,
    )


def load_host_file(path: str | Path) -> HostFile:
    """Read and validate a host file; guest profiles are loaded and checked too."""
    file = str(path)
    text = read_text_file(path, "host file")
    data, lines = load_yaml(text, file)
    model: HostFileModel = _validate(HostFileModel, data, lines, file)
    host = model.host
    nodes = _node_memory(host, lines, file)
    hugepages = None
    if host.hugepages is not None:
        page_kib = parse_size_kib(host.hugepages.page_size)
        if host.hugepages.per_node % page_kib:
            raise InputError(
                f"expected a multiple of {host.hugepages.page_size}; "
                f"found {format_kib(host.hugepages.per_node)}",
                file=file,
                line=_line_of(lines, ("host", "hugepages", "per_node")),
                field="host.hugepages.per_node",
            )
        if host.hugepages.per_node >= min(nodes):
            raise InputError(
                f"expected less than the smallest node ({format_kib(min(nodes))}); "
                f"found {format_kib(host.hugepages.per_node)}",
                file=file,
                line=_line_of(lines, ("host", "hugepages", "per_node")),
                field="host.hugepages.per_node",
            )
        hugepages = Hugepages(page_kib=page_kib, per_node_kib=host.hugepages.per_node)
    hyp_origin = Origin(file, _line_of(lines, ("host", "hypervisor")))
    try:
        hypervisor = load_hypervisor_profile(host.hypervisor, named_in=file)
    except InputError as err:
        raise located(err, hyp_origin, "host.hypervisor") from None
    kernel = None
    if host.kernel is not None:
        kernel = _calibration(host.kernel, Origin(file, _line_of(lines, ("host", "kernel"))), "host.kernel")
    elif hypervisor.host_kernel_scope == "node":
        names = ", ".join(name for name, _ in list_calibrations()) or "none shipped"
        raise InputError(
            f"required for {hypervisor.name}: {hypervisor.stack.host_kernel_note}; "
            f"expected a kernel calibration (one of: {names})",
            file=file,
            line=_line_of(lines, ("host",)),
            field="host.kernel",
        )
    spec = HostSpec(
        node_memory_kib=nodes,
        cpu_count=host.cpus,
        kernel=kernel,
        cmdline=host.cmdline,
        hypervisor=hypervisor,
        operator_reserve_kib=host.operator_reserve or 0,
        hypervisor_reserve_kib=host.hypervisor_reserve,
        vcpu_ratio=host.vcpu_ratio,
        hugepages=hugepages,
        origin=Origin(file, _line_of(lines, ("host",))),
        key_lines={_dotted(k[1:]): v for k, v in lines.items() if len(k) > 1 and k[0] == "host"},
    )
    guests = tuple(
        _guest_request(entry, i, lines, file, hypervisor, host.cpus) for i, entry in enumerate(model.guests)
    )
    if kernel is not None and hypervisor.host_kernel_scope == "node":
        for i, guest in enumerate(guests):
            if guest.calibration.arch != kernel.arch:
                raise InputError(
                    f"profile {guest.profile.name!r} is an {guest.calibration.arch} guest; "
                    f"expected one of the host's architecture ({kernel.arch}, kernel {kernel.name})",
                    file=file,
                    line=_line_of(lines, ("guests", i, "profile")),
                    field=f"guests[{i}].profile",
                )
    guest_names = [g.name for g in guests]
    for i, name in enumerate(guest_names):
        if name in guest_names[:i]:
            key = "name" if model.guests[i].name is not None else "profile"
            first = guest_names.index(name)
            raise InputError(
                f"expected each guest name once; found {name!r} again (first in guests[{first}]): "
                f"merge the entries, or give this one a name of its own (e.g. name: {name}-2)",
                file=file,
                line=_line_of(lines, ("guests", i, key)),
                field=f"guests[{i}].{key}",
            )
    scenario = None
    if model.scenario is not None:
        s = model.scenario
        scenario = Scenario(
            s.name,
            s.resident,
            s.ksm_shared or 0,
            s.balloon_percent,
            s.memory_ratio,
            Origin(file, _line_of(lines, ("scenario", "ksm_shared"))),
        )
    return HostFile(path=file, host=spec, guests=guests, objective=model.objective, scenario=scenario)


def host_file_schema() -> dict[str, Any]:
    """JSON schema of a host file (``planner schema``)."""
    schema = HostFileModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planner host file"
    return schema

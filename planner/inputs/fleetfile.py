"""Fleet files (``planner fleet fleet.yaml``): host types, existing hosts and an inventory.

A fleet file names host types (each a host file's ``host:`` block, with a ``cost`` and an
``available`` count, unlimited when left out), the hosts that exist (a type and the guests
each runs, per profile) and the inventory (guest entries as in a host file, each with a
``count`` of guests to place; a host file's ``min``, ``max`` and ``weight``, which steer
``planner fit``'s most guests on one host, are refused). Each host type is read as the
host file it would be (its ``host:`` block with the inventory as its ``guests:``), so every
rule of a host file holds and every error names the fleet file's line. The inventory's
names are the profiles the existing hosts' ``guests:`` refer to: a count each (placed
first fit, largest first), or counts per NUMA node index (``{0: 12, 1: 8}``) for guests
pinned to nodes, checked against the host type's nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from planner.errors import InputError
from planner.inputs.hostfile import host_file_from_data
from planner.inputs.schema import _Strict, validate
from planner.inputs.specs import HostFile, Origin
from planner.inputs.yaml import LineMap, dotted, line_of, load_yaml, read_text_file, source_name

#: most host types, existing hosts and inventory entries a fleet file may hold
MAX_HOST_TYPES = 64
MAX_EXISTING_HOSTS = 100_000
MAX_INVENTORY = 1_000
#: most guests of one inventory entry
MAX_COUNT = 10_000_000


class HostTypeModel(_Strict):
    """One kind of host that can be used or bought."""

    name: str = Field(min_length=1, max_length=64, description="Type name; new hosts are NAME-001 ...")
    cost: float = Field(default=1.0, gt=0, le=1e9, description="Cost of one host (1 each: fewest hosts).")
    available: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Hosts of this type to be had; unlimited if left out."
    )
    host: dict[str, Any] = Field(description="A host file's host: block (see `planner schema`).")


class ExistingHostModel(_Strict):
    """A host that exists, with the guests it runs."""

    name: str = Field(min_length=1, max_length=253)
    type: str = Field(description="One of host_types[].name.")
    guests: dict[str, Any] = Field(
        default_factory=dict,
        description="Inventory name -> guests it runs: a count (placed first fit), or NUMA node index "
        "-> count ({0: 12, 1: 8}) for guests pinned to nodes.",
    )
    fixed: bool = Field(default=False, description="Its guests may not move (never consolidated).")


class FleetFileModel(_Strict):
    """The fleet file's top level."""

    host_types: list[HostTypeModel] = Field(min_length=1, max_length=MAX_HOST_TYPES)
    existing: list[ExistingHostModel] = Field(default_factory=list, max_length=MAX_EXISTING_HOSTS)
    inventory: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_INVENTORY)
    failures: int = Field(default=0, ge=0, le=2, description="N+r: hosts that may fail together (0-2).")
    time_limit: float = Field(default=60.0, gt=0, le=3600, description="Seconds per solve.")


@dataclass(frozen=True)
class FleetHostType:
    """A host type, read as the host file its ``host:`` block and the inventory make."""

    name: str
    cost: float
    available: int | None
    host_file: HostFile
    origin: Origin


@dataclass(frozen=True)
class FleetExisting:
    """An existing host: its type, its guests placed first fit (inventory name -> count) and
    those pinned to a NUMA node ((inventory name, node index) -> count)."""

    name: str
    host_type: str
    guests: dict[str, int]
    fixed: bool
    origin: Origin
    pinned: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetFile:
    """A fleet file, validated."""

    path: str
    host_types: tuple[FleetHostType, ...]
    existing: tuple[FleetExisting, ...]
    inventory: dict[str, int]  #: guest name -> guests to place
    failures: int
    time_limit_s: float


def _error(file: str, lines: LineMap, message: str, *loc: str | int) -> InputError:
    return InputError(message, file=file, line=line_of(lines, loc), field=dotted(loc))


def _host_type(model: FleetFileModel, i: int, data: dict[str, Any], file: str, lines: LineMap) -> HostFile:
    """Host type i as a host file: its host: block, the inventory (without counts) as guests."""
    guests = [{k: v for k, v in entry.items() if k != "count"} for entry in data["inventory"]]
    sub: LineMap = {}
    for key, line in lines.items():
        if key[:3] == ("host_types", i, "host"):
            sub[("host", *key[3:])] = line
        elif key[:1] == ("inventory",):
            sub[("guests", *key[1:])] = line
    sub[("host",)] = line_of(lines, ("host_types", i, "host")) or 1
    try:
        return host_file_from_data({"host": model.host_types[i].host, "guests": guests}, file, sub)
    except InputError as err:
        if err.file != file or err.field is None:
            raise
        field = err.field.replace("guests", "inventory", 1) if err.field.startswith("guests") else err.field
        if field.startswith("host"):
            field = f"host_types[{i}].{field}"
        raise InputError(err.message, file=file, line=err.line, field=field) from None


#: guest-entry keys of a host file that steer ``planner fit``'s most guests on one host
_FIT_ONLY_KEYS = ("min", "max", "weight")


def _counts(data: dict[str, Any], file: str, lines: LineMap) -> list[int]:
    counts = []
    for j, entry in enumerate(data["inventory"]):
        for key in _FIT_ONLY_KEYS:
            if key in entry:
                raise _error(
                    file,
                    lines,
                    "expected no min, max or weight in a fleet inventory (they bound and weigh planner "
                    f"fit's most guests on one host; a fleet places exactly count guests); found {key}: "
                    f"{entry[key]!r}",
                    "inventory",
                    j,
                    key,
                )
        counts.append(_count(entry.get("count", 0), file, lines, "inventory", j, "count"))
    return counts


def _existing(
    model: FleetFileModel, names: set[str], node_counts: dict[str, int], file: str, lines: LineMap
) -> tuple[FleetExisting, ...]:
    types = set(node_counts)
    seen: set[str] = set()
    out = []
    for i, h in enumerate(model.existing):
        if h.type not in types:
            raise _error(
                file,
                lines,
                f"expected one of the host types ({', '.join(sorted(types))}); found {h.type!r}",
                "existing",
                i,
                "type",
            )
        if h.name in seen:
            raise _error(
                file, lines, f"expected each host name once; found {h.name!r} again", "existing", i, "name"
            )
        seen.add(h.name)
        for g in h.guests:
            if g not in names:
                raise _error(
                    file,
                    lines,
                    f"expected a name of the inventory ({', '.join(sorted(names))}); found {g!r}",
                    "existing",
                    i,
                    "guests",
                    g,
                )
        guests, pinned = _guests(h, i, node_counts[h.type], file, lines)
        origin = Origin(file, line_of(lines, ("existing", i)))
        out.append(FleetExisting(h.name, h.type, guests, h.fixed, origin, pinned))
    return tuple(out)


def _count(value: Any, file: str, lines: LineMap, *loc: str | int, per_node: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        node_count = " (or NUMA node index -> count, {0: 12, 1: 8})" if per_node else ""
        expected = f"expected a whole number 0..{MAX_COUNT:,}{node_count}; found {value!r}"
        raise _error(file, lines, expected, *loc)
    return value


def _guests(
    h: ExistingHostModel, i: int, node_count: int, file: str, lines: LineMap
) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
    """An existing host's guests: counts placed first fit, and counts pinned to node indices."""
    guests: dict[str, int] = {}
    pinned: dict[tuple[str, int], int] = {}
    for g, value in h.guests.items():
        if not isinstance(value, dict):
            guests[g] = _count(value, file, lines, "existing", i, "guests", g, per_node=True)
            continue
        for node, n in value.items():
            if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < node_count:
                raise _error(
                    file,
                    lines,
                    f"expected a NUMA node index 0..{node_count - 1} of host type {h.type!r} (it has "
                    f"{node_count} node{'s' if node_count > 1 else ''}); found {node!r}",
                    "existing",
                    i,
                    "guests",
                    g,
                    str(node),
                )
            pinned[(g, node)] = _count(n, file, lines, "existing", i, "guests", g, str(node))
    return guests, pinned


def load_fleet_file(path: str | Path) -> FleetFile:
    """Read and validate a fleet file (module docstring); every error names its line and field."""
    file = source_name(path)
    data, lines = load_yaml(read_text_file(path, "fleet file"), file)
    model: FleetFileModel = validate(FleetFileModel, data, lines, file)
    names = [t.name for t in model.host_types]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _error(
                file,
                lines,
                f"expected each host type name once; found {name!r} again",
                "host_types",
                i,
                "name",
            )
    counts = _counts(data, file, lines)
    types = tuple(
        FleetHostType(
            t.name,
            t.cost,
            t.available,
            _host_type(model, i, data, file, lines),
            Origin(file, line_of(lines, ("host_types", i))),
        )
        for i, t in enumerate(model.host_types)
    )
    guest_names = [g.name for g in types[0].host_file.guests]
    return FleetFile(
        path=file,
        host_types=types,
        existing=_existing(
            model,
            set(guest_names),
            {t.name: len(t.host_file.host.node_memory_kib) for t in types},
            file,
            lines,
        ),
        inventory=dict(zip(guest_names, counts, strict=True)),
        failures=model.failures,
        time_limit_s=model.time_limit,
    )

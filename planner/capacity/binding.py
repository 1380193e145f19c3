"""The solver's constraint names as words: ``node0.memory_kib`` -> ``node 0 memory``.

Constraints are named ``node<k>.<resource>`` (a node's memory or hugepage pool),
``host.<resource>`` (the host's vCPUs), ``nodes.<resource>`` (what all nodes hold together,
for minimum counts that overflow it) and ``<profile>.max`` (a profile's max count).
"""

from __future__ import annotations

import re

_NODE_RESOURCE = re.compile(r"^node(\d+)\.(\w+)$")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders numbers in names by value: ``node2`` before ``node10``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)


_RESOURCES = {"memory_kib": "memory", "hugepages_kib": "hugepage pool", "vcpu_count": "vCPUs"}


def binding_kind(name: str) -> str:
    """What kind of limit a constraint is: ``memory``, ``hugepage pool``, ``vCPUs``, ``max counts``."""
    if name.endswith(".max"):
        return "max counts"
    return _RESOURCES.get(name.rsplit(".", 1)[-1], name)


def binding_text(name: str) -> str:
    """A constraint as words: ``node0.memory_kib`` -> ``node 0 memory``."""
    m = _NODE_RESOURCE.match(name)
    if m:
        return f"node {m.group(1)} {_RESOURCES.get(m.group(2), m.group(2))}"
    if name.startswith("host."):
        return f"host {_RESOURCES.get(name[5:], name[5:])}"
    if name.startswith("nodes."):  # the minimum counts overflow what all nodes hold together
        return f"{_RESOURCES.get(name[6:], name[6:])} of all nodes together"
    if name.startswith("nodes ("):  # ``nodes (why)``: the why is already words
        return name[len("nodes (") :].removesuffix(")")
    if name.endswith(".max"):
        return f"{name[:-4]}: its max count"
    return name

"""Integer helpers shared by the overhead models."""

from __future__ import annotations


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` for integers, without floats."""
    return -(-numerator // denominator)


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return ceil_div(value, multiple) * multiple


def on_node0(kib: int, node_count: int) -> tuple[int, ...]:
    """A host-wide reserve as the models place it: all on node 0, none on the others. [KiB per node]"""
    return (kib,) + (0,) * (node_count - 1)

"""What the kernel model predicts for: a machine's RAM, CPUs, kernel command line and machine type.

:class:`GuestSpec` is the input of every term of the model (:mod:`planner.kernel.reserved`,
:mod:`planner.kernel.runtime`) and of :func:`planner.kernel.model.predict`; it sits below
them so that each can take it without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuestSpec:
    """What is predicted: a machine's RAM, CPUs, kernel command line and machine type."""

    memory_kib: int
    vcpu_count: int = 1
    possible_cpu_count: int | None = None  # default: vcpu_count (qemu maxcpus)
    cmdline: str = ""
    machine: str | None = None
    #: qemu ``-numa`` nodes, RAM split evenly (:func:`planner.kernel.layout.guest_layout`)
    node_count: int = 1

"""A memory-capped cgroup to run guests in: cgroup v2 where the machine has the memory
controller there, else cgroup v1.

Sources: ``Documentation/admin-guide/cgroup-v2.rst`` and
``Documentation/admin-guide/cgroup-v1/memory.rst`` @ v6.1.

* v2: ``memory.max`` caps the group; ``memory.swap.max`` = 0 keeps it from swapping;
  ``memory.events`` counts ``oom_kill``; ``memory.current`` and ``memory.peak`` (since
  5.19; absent before) give usage and its high-water mark; ``memory.stat`` ``anon`` and
  ``file``. A child gets the memory controller only when its parent lists ``memory`` in
  ``cgroup.subtree_control``; the "no internal process" rule keeps a non-root cgroup that
  holds processes (ours, usually) from enabling it, so the group is made under the nearest
  ancestor that already has it enabled. Nothing of the machine's is changed.
* v1: ``memory.limit_in_bytes`` caps the group, ``memory.memsw.limit_in_bytes`` (present
  with swap accounting) is set to the same so swap cannot extend it; ``memory.oom_control``
  gives ``under_oom`` and ``oom_kill`` (since 4.13); ``memory.usage_in_bytes`` (fuzzy by the
  per-CPU charge batches, "memory.rst" §5.5), ``memory.max_usage_in_bytes``,
  ``memory.failcnt``; ``memory.stat`` ``total_rss`` and ``total_cache``.

The group is made below our own cgroup (``/proc/self/cgroup``) where that works, so what it
holds still counts against whatever limits the machine set on us. A process joins it by
writing its pid to ``cgroup.procs`` before it allocates anything: :meth:`MemoryCgroup.wrap`
starts a command through ``sh -c 'echo $$ > .../cgroup.procs && exec "$@"'``.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.errors import PlannerError
from planner.units import BYTES_PER_KIB

CgroupVersion = Literal[1, 2]


class CgroupUnavailableError(PlannerError):
    """No memory cgroup can be made here; the message says what was tried and why it failed."""


# --- parsing ---------------------------------------------------------------------------------------
def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` -> {controller: path}; the v2 line ``0::/path`` is the key ``""``.

    Each line is ``hierarchy-ID:controller-list:path`` (``man 7 cgroups``); a v1 line with
    several controllers (``4:cpu,cpuacct:/x``) gives each of them.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


@dataclass(frozen=True)
class CgroupMount:
    """A cgroup file system from ``/proc/self/mountinfo``."""

    mount_point: Path
    root: str  #: the path inside the hierarchy that is mounted there (``/`` unless namespaced)
    version: CgroupVersion
    controllers: tuple[str, ...]  #: v1: the controllers of the hierarchy (super options); v2: ()


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup mounts of ``/proc/<pid>/mountinfo`` (``man 5 proc``: field 4 the root, field
    5 the mount point, then optional fields up to ``-``, the fs type, the source and the super
    options, which for cgroup v1 name the hierarchy's controllers)."""
    out: list[CgroupMount] = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if len(fields) < dash + 4 or dash < 5:
            continue
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        mount_point = Path(fields[4].replace("\\040", " "))
        if fstype == "cgroup2":
            out.append(CgroupMount(mount_point, fields[3], 2, ()))
        elif fstype == "cgroup":
            out.append(CgroupMount(mount_point, fields[3], 1, tuple(options)))
    return out


def parse_keyed(text: str) -> dict[str, int]:
    """A flat-keyed file (``memory.events``, ``memory.stat``, ``memory.oom_control``):
    ``key value`` per line -> {key: value}; lines whose value is not a whole number are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _own_dir(mount: CgroupMount, own_path: str) -> Path:
    """The directory of our own cgroup under a mount (the mount may show a sub-tree only)."""
    rel = own_path
    if mount.root != "/" and (own_path == mount.root or own_path.startswith(mount.root + "/")):
        rel = own_path[len(mount.root) :]
    return mount.mount_point / rel.lstrip("/")


def _ancestors(start: Path, top: Path) -> Iterator[Path]:
    """``start`` and each parent up to ``top`` (the mount point), nearest first."""
    here = start
    while True:
        yield here
        if here == top or top not in here.parents:
            return
        here = here.parent


# --- the group -------------------------------------------------------------------------------------
@dataclass
class MemoryCgroup:
    """A memory cgroup this process made; :meth:`remove` deletes it."""

    path: Path
    version: CgroupVersion
    limit_kib: int
    swap_limited: bool = False  #: swap is kept out (v1 memsw limit, v2 memory.swap.max = 0)

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def _has(self, name: str) -> bool:
        return (self.path / name).is_file()

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` started so that its process joins this group before it runs (and allocates)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs_file), *argv]

    def usage_kib(self) -> int:
        """Memory charged to the group now (v2 ``memory.current``, v1 ``memory.usage_in_bytes``)."""
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return int(self._read(name)) // BYTES_PER_KIB

    def peak_kib(self) -> int | None:
        """High-water mark of the usage (v2 ``memory.peak``, None before 5.19; v1
        ``memory.max_usage_in_bytes``)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return int(self._read(name)) // BYTES_PER_KIB if self._has(name) else None

    def oom_kills(self) -> int:
        """Processes the OOM killer killed in the group (v2 ``memory.events``, v1
        ``memory.oom_control``; 0 where the kernel does not count them)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        return parse_keyed(self._read(name)).get("oom_kill", 0)

    def limit_hits(self) -> int:
        """Times a charge hit the limit (v2 ``memory.events`` ``max``; v1 ``memory.failcnt`` plus
        ``memory.memsw.failcnt``: with both limits equal, the memory+swap counter is charged
        first and takes the failures, ``mm/memcontrol.c try_charge_memcg()`` @ v6.1).
        Informational only: a 6.18 kernel with v1 counted none while the OOM killer struck."""
        if self.version == 2:
            return parse_keyed(self._read("memory.events")).get("max", 0)
        memsw = int(self._read("memory.memsw.failcnt")) if self._has("memory.memsw.failcnt") else 0
        return int(self._read("memory.failcnt")) + memsw

    def stat_kib(self) -> tuple[int, int]:
        """(anonymous, file) memory charged to the group. [KiB]"""
        stat = parse_keyed(self._read("memory.stat"))
        if self.version == 2:
            return stat.get("anon", 0) // BYTES_PER_KIB, stat.get("file", 0) // BYTES_PER_KIB
        return stat.get("total_rss", 0) // BYTES_PER_KIB, stat.get("total_cache", 0) // BYTES_PER_KIB

    def pids(self) -> list[int]:
        """The processes in the group now."""
        with contextlib.suppress(OSError):
            return [int(p) for p in self._read("cgroup.procs").split()]
        return []

    def remove(self, timeout_s: float = 10.0) -> bool:
        """Delete the group once its processes are gone (they must have been killed); True if
        it is gone. A group that still holds a process after ``timeout_s`` is left in place."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _limit_v2(group: Path, limit_kib: int) -> bool:
    _write(group / "memory.max", str(limit_kib * BYTES_PER_KIB))
    if (group / "memory.swap.max").is_file():
        _write(group / "memory.swap.max", "0")
        return True
    return False


def _limit_v1(group: Path, limit_kib: int) -> bool:
    _write(group / "memory.limit_in_bytes", str(limit_kib * BYTES_PER_KIB))
    if (group / "memory.memsw.limit_in_bytes").is_file():  # memsw >= limit: set it after the limit
        _write(group / "memory.memsw.limit_in_bytes", str(limit_kib * BYTES_PER_KIB))
        return True
    return False


def _try_parent(parent: Path, version: CgroupVersion, name: str, limit_kib: int) -> MemoryCgroup | str:
    """Make ``parent/name`` with the limit; the group, or why it could not be made there."""
    if version == 2:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if "memory" not in enabled:
            return f"{parent}: memory is not in cgroup.subtree_control"
    group = parent / name
    try:
        group.mkdir()
    except OSError as err:
        return f"{parent}: mkdir {name}: {err.strerror or err}"
    try:
        swap = _limit_v2(group, limit_kib) if version == 2 else _limit_v1(group, limit_kib)
    except OSError as err:
        with contextlib.suppress(OSError):
            group.rmdir()
        return f"{group}: setting the limit failed: {err.strerror or err}"
    return MemoryCgroup(group, version, limit_kib, swap)


def create_memory_cgroup(
    limit_kib: int,
    name: str,
    *,
    proc: Path = Path("/proc/self"),
    versions: Sequence[CgroupVersion] = (2, 1),
) -> MemoryCgroup:
    """A new memory cgroup ``name`` capped at ``limit_kib``, v2 before v1 (see the module
    docstring): under our own cgroup, or the nearest ancestor where the controller is enabled.

    Raises
    ------
    CgroupUnavailableError
        Neither version has a memory controller this process can make a group in; the
        message lists each place tried and why it failed.
    """
    own = parse_proc_cgroup((proc / "cgroup").read_text())
    mounts = parse_mountinfo((proc / "mountinfo").read_text())
    tried: list[str] = []
    for version in versions:
        key = "" if version == 2 else "memory"
        found = [m for m in mounts if m.version == version and (version == 2 or key in m.controllers)]
        if not found or key not in own:
            tried.append(f"cgroup v{version}: no memory hierarchy mounted")
            continue
        mount = found[0]
        if version == 2:
            controllers = (mount.mount_point / "cgroup.controllers").read_text().split()
            if "memory" not in controllers:
                tried.append(f"cgroup v2 at {mount.mount_point}: no memory controller in cgroup.controllers")
                continue
        for parent in _ancestors(_own_dir(mount, own[key]), mount.mount_point):
            made = _try_parent(parent, version, name, limit_kib)
            if isinstance(made, MemoryCgroup):
                return made
            tried.append(f"cgroup v{version} {made}")
    raise CgroupUnavailableError("no memory cgroup can be made here: " + "; ".join(tried))


@contextlib.contextmanager
def memory_cgroup(limit_kib: int, name: str | None = None) -> Iterator[MemoryCgroup]:
    """:func:`create_memory_cgroup` for the ``with`` block; removed at its end (its processes
    must have been killed by then)."""
    group = create_memory_cgroup(limit_kib, name or f"planner-density-{os.getpid()}")
    try:
        yield group
    finally:
        if not group.remove():
            warnings.warn(f"{group.path} was left in place: it still holds processes", stacklevel=2)

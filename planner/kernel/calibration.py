"""A calibration: the constants of one kernel build, with their provenance.

A calibration is data (YAML in ``profiles/kernels/NAME.yaml``). It is frozen
once made, carries a ``schema_version``, the sha256 and configured size of every
log it came from, per-log residuals, and the range it was calibrated on;
predictions outside that range follow an explicit policy (``planner.kernel.model``).
Files are found, read and written by :mod:`planner.inputs.calibrations` (the one door for
YAML); :func:`calibration_from_dict` validates their plain data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from planner.errors import InputError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class KernelParameters:
    """Constants of one kernel build. [KiB unless named]

    Structural constants are read from the logs (``how: measured``); the rest are
    fitted with ``scipy.optimize.least_squares`` (``how: least_squares``) or come
    from the build's configuration (``how: config``). See
    :mod:`planner.kernel.model` for where each term enters.
    """

    # --- outside MemTotal ------------------------------------------------------
    #: memblock reservation of the image and early allocations, without the initrd,
    #: the per-CPU first chunk, a log_buf_len= buffer or anything sized from RAM
    image_reserved_kib: float = 0.0
    #: kernel direct-map page tables per GiB of RAM (s390x under TCG maps with 4 KiB pages)
    direct_map_kib_per_gib: float = 0.0
    #: RAM whose direct-map page tables the image's own pool covers (x86-64 brk ``pgt_buf``)
    direct_map_free_kib: float = 0.0
    #: ``NODE_DATA(n) allocated`` per NUMA node beyond the first (pg_data_t)
    node_data_kib: int = 0
    #: first per-CPU chunk per possible CPU (``percpu: Embedded N pages/cpu``)
    percpu_kib_per_cpu: int = 0
    #: ``Freeing unused kernel image ...``, ``unused decrypted``, ``early sccb`` ...
    #: (not the initrd, not SMP alternatives)
    freed_init_kib: int = 0
    #: ``Freeing SMP alternatives memory`` (x86; freed unless 1 present CPU of several possible)
    smp_alternatives_kib: int = 0
    #: the compressed initramfs of the calibration boots (reserved, then freed)
    initrd_kib: int = 0
    #: MemTotal minus (physpages - reserved + freed) on the calibration boots
    memtotal_adjust_kib: float = 0.0
    #: built-in printk buffer (CONFIG_LOG_BUF_SHIFT)
    log_buf_default_kib: int = 128
    # --- inside MemTotal, at idle after boot ------------------------------------
    slab_kib: float = 0.0
    slab_kib_per_vcpu: float = 0.0
    sreclaimable_kib: float = 0.0
    kernel_stacks_kib: float = 0.0
    kernel_stacks_kib_per_vcpu: float = 0.0
    #: VmallocUsed - KernelStack = vmalloc_kib + vmalloc_kib_cpu_inverse / possible CPUs
    vmalloc_kib: float = 0.0
    vmalloc_kib_cpu_inverse: float = 0.0
    #: MemTotal - MemFree not named above (page tables, per-CPU chunks, ftrace, initramfs, ...)
    other_kib: float = 0.0
    other_kib_per_vcpu: float = 0.0
    #: free pages parked on per-CPU lists after boot: a fill (the boot-time frees of init
    #: memory and the initrd land there) capped at a fraction of the zones' low watermarks
    pcp_kib: float = 0.0
    pcp_kib_per_gib: float = 0.0
    pcp_kib_per_vcpu: float = 0.0
    pcp_low_fraction: float = 1.0
    # --- on the host ---------------------------------------------------------------
    #: guest RAM resident on the host after boot = min(RAM, base + per_vcpu * (vCPUs - 1)
    #: + per_node * (NUMA nodes - 1) + what the kernel touches in proportion to RAM)
    #: (:mod:`planner.kernel.footprint`);
    #: 0: not measured
    footprint_base_kib: float = 0.0
    footprint_kib_per_vcpu: float = 0.0
    footprint_kib_per_node: float = 0.0
    # --- build configuration -----------------------------------------------------
    thp_available: bool = True
    swiotlb_available: bool = True
    crashkernel_available: bool = True
    #: CONFIG_CMA (Debian s390x: y, with a 4 MiB vmcp area on z/VM; amd64: not set)
    cma_available: bool = False
    #: DMA atomic pools (kernel/dma/pool.c): kernel, DMA, DMA32 on x86-64
    dma_pool_count: int = 3
    pageblock_kib: int = 2048
    #: "6.1" (alloc_large_system_hash with adapt and low limits), "6.10" (nr_kernel_pages
    #: from free memblock ranges) or "2.6.18"
    hash_rules: str = "6.1"
    #: sizeof(struct page): 64 with memcg (6.x), 56 on 2.6.18 x86-64
    struct_page_bytes: int = 64
    #: "sparse-vmemmap" (per present section) or "flat" (2.6-era, per spanned page)
    memmap_model: str = "sparse-vmemmap"
    #: RAM a physical machine's firmware keeps (holes, stolen graphics memory), machine "host"
    firmware_kib: float = 0.0
    #: x86 dma_reserve: pages below 16 MiB not free at boot (-1: 158, the qemu guests' value)
    dma_reserve_pages: int = -1
    #: kernel stack per thread (THREAD_SIZE): 16 KiB on x86-64 and s390x since 3.15, 8 KiB on 2.6.18 x86-64
    thread_stack_kib: int = 16
    #: 2.6-era table buckets, which grow with lock debugging (measured from the log)
    tcp_ehash_bucket_bytes: int = 16
    tcp_bhash_bucket_bytes: int = 16
    route_bucket_bytes: int = 8


@dataclass(frozen=True)
class CalibratedRange:
    """Sizes and vCPU counts a calibration was made on: outside them its figures are extrapolated
    (the model's policy, :func:`planner.kernel.model.predict`; the planner's notes)."""

    min_memory_kib: int
    max_memory_kib: int
    min_vcpu_count: int = 1
    max_vcpu_count: int = 1

    def covers_memory(self, memory_kib: int) -> bool:
        """Whether ``memory_kib`` lies within the calibrated sizes (bounds included)."""
        return self.min_memory_kib <= memory_kib <= self.max_memory_kib

    def covers_vcpus(self, vcpu_count: int) -> bool:
        """Whether ``vcpu_count`` lies within the calibrated vCPU counts (bounds included)."""
        return self.min_vcpu_count <= vcpu_count <= self.max_vcpu_count


@dataclass(frozen=True)
class LogRecord:
    """One log a calibration came from, with measured and modelled values. [KiB]"""

    source: str
    sha256: str
    memory_kib: int
    vcpu_count: int
    cmdline: str = ""
    measured: dict[str, int] = field(default_factory=dict)
    modelled: dict[str, int] = field(default_factory=dict)

    @property
    def residual_kib(self) -> dict[str, int]:
        return {k: self.modelled[k] - v for k, v in self.measured.items() if k in self.modelled}


@dataclass(frozen=True)
class Calibration:
    """A fitted kernel memory model for one kernel build."""

    name: str
    kernel_release: str
    arch: str
    parameters: KernelParameters
    calibrated_range: CalibratedRange
    machine: str | None = None
    linux_version: str = ""
    description: str = ""
    partial: bool = False
    min_boot_memory_kib: int | None = None
    parameter_sources: dict[str, str] = field(default_factory=dict)
    logs: tuple[LogRecord, ...] = ()
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
    path: str | None = None  # where it was loaded from

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML/JSON (ordered for reading)."""
        params = dataclasses.asdict(self.parameters)
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "description": self.description,
            "kernel_release": self.kernel_release,
            "linux_version": self.linux_version,
            "arch": self.arch,
            "machine": self.machine,
            "partial": self.partial,
            "min_boot_memory_kib": self.min_boot_memory_kib,
            "calibrated_range": dataclasses.asdict(self.calibrated_range),
            "parameters": {
                k: {
                    "value": _round(v),
                    "unit": parameter_unit(k),
                    "how": self.parameter_sources.get(k, "default"),
                }
                for k, v in params.items()
            },
            "notes": list(self.notes),
            "logs": [
                {
                    "source": log.source,
                    "sha256": log.sha256,
                    "memory_kib": log.memory_kib,
                    "vcpu_count": log.vcpu_count,
                    "cmdline": log.cmdline,
                    "measured_kib": dict(log.measured),
                    "modelled_kib": dict(log.modelled),
                    "residual_kib": log.residual_kib,
                }
                for log in self.logs
            ],
        }


def parameter_unit(name: str) -> str:
    """The unit of a parameter, read from its name (units live in names, see planner.units)."""
    if name.endswith("_kib_per_gib"):
        return "KiB/GiB"
    if name.endswith("_kib_per_vcpu"):
        return "KiB/vCPU"
    if name.endswith("_kib_per_cpu"):
        return "KiB/CPU"
    if name.endswith("_kib_per_node"):
        return "KiB/node"
    if name.endswith("_kib_cpu_inverse"):
        return "KiB*CPU"
    if name.endswith("_kib"):
        return "KiB"
    if name.endswith("_bytes"):
        return "bytes"
    if name.endswith(("_count", "_fraction")):
        return "1"
    return "-"


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    if key not in data:
        raise InputError(f"expected the key {key!r}; it is missing", file=source, field=key)
    value = data[key]
    if not isinstance(value, kind):
        raise InputError(f"expected {key} of type {kind}; found {value!r}", file=source, field=key)
    return value


def calibration_from_dict(data: Any, source: str = "<calibration>") -> Calibration:
    """Validate plain data (from YAML) into a :class:`Calibration`."""
    if not isinstance(data, dict):
        raise InputError(f"expected a calibration mapping; found {type(data).__name__}", file=source)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(
            f"expected schema_version {SCHEMA_VERSION}; found {version!r}",
            file=source,
            field="schema_version",
        )
    values, sources = _parameters_from_dict(_require(data, "parameters", dict, source), source)
    rng = _require(data, "calibrated_range", dict, source)
    try:
        calibrated_range = CalibratedRange(**rng)
    except TypeError as err:
        raise InputError(
            f"expected min/max_memory_kib and min/max_vcpu_count; {err}",
            file=source,
            field="calibrated_range",
        ) from None
    arch = _require(data, "arch", str, source)
    if arch not in ("x86_64", "s390x"):
        raise InputError(f"expected arch x86_64 or s390x; found {arch!r}", file=source, field="arch")
    logs = tuple(_log_from_dict(log) for log in data.get("logs") or [])
    return Calibration(
        name=_require(data, "name", str, source),
        kernel_release=_require(data, "kernel_release", str, source),
        arch=arch,
        parameters=KernelParameters(**values),
        calibrated_range=calibrated_range,
        machine=data.get("machine"),
        linux_version=str(data.get("linux_version") or ""),
        description=str(data.get("description") or ""),
        partial=bool(data.get("partial", False)),
        min_boot_memory_kib=data.get("min_boot_memory_kib"),
        parameter_sources=sources,
        logs=logs,
        notes=tuple(data.get("notes") or ()),
        path=source,
    )


def _parameters_from_dict(params_in: dict[str, Any], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``parameters:`` (``{name: {value, unit, how}}`` or ``{name: value}``) -> (values, how each
    was found), every name a :class:`KernelParameters` field and every value of its type."""
    known = {f.name: f for f in dataclasses.fields(KernelParameters)}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, item in params_in.items():
        if key not in known:
            raise InputError(
                f"expected one of {sorted(known)}; found {key!r}", file=source, field=f"parameters.{key}"
            )
        value = item.get("value") if isinstance(item, dict) else item
        default = known[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise InputError(
                f"expected a {type(default).__name__}; found {value!r}",
                file=source,
                field=f"parameters.{key}",
            )
        values[key] = float(value) if isinstance(default, float) and value is not None else value
        if isinstance(item, dict) and "how" in item:
            sources[key] = str(item["how"])
    return values, sources


def _log_from_dict(log: dict[str, Any]) -> LogRecord:
    """One entry of ``logs:`` (as :meth:`Calibration.to_dict` writes it)."""
    return LogRecord(
        source=str(log.get("source", "")),
        sha256=str(log.get("sha256", "")),
        memory_kib=int(log.get("memory_kib", 0)),
        vcpu_count=int(log.get("vcpu_count", 1)),
        cmdline=str(log.get("cmdline", "")),
        measured=dict(log.get("measured_kib") or {}),
        modelled=dict(log.get("modelled_kib") or {}),
    )

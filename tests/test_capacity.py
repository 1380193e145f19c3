"""One demand builder: ``planner fit``, ``planner check`` headroom and the fit report's size
sweep count the same guest the same way (capacity/demand.py), hugepage rounding included."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.api import check, fit
from planner.capacity.demand import alone_count, guest_demand
from planner.units import KIB_PER_MIB

#: a 127 MiB guest backed by 2 MiB pages takes 64 pages (128 MiB) of the pool: qemu maps a
#: file-backed RAM block rounded up to its page size (file_ram_alloc(), softmmu/physmem.c @ v7.2)
HOST = """\
host:
  node_memory: [8GiB, 8GiB]
  cpus: 16
  kernel: debian12-amd64
  hypervisor: kvm-qemu
  hugepages:
    page_size: 2MiB
    per_node: 2032MiB
guests:
  - profile: kvm-cloud-128mib
    name: {name}
    memory: {memory}
    hugepages: {hugepages}
"""
#: a test-driver host with no domains: ``planner check --host`` then counts on the host file's
#: nodes exactly what ``planner fit`` packs
EMPTY_HOST_XML = """\
<node>
  <cpu><mhz>1400</mhz><model>x86_64</model><nodes>2</nodes><sockets>2</sockets><cores>8</cores>\
<threads>1</threads><active>16</active></cpu>
  <memory>16777216</memory>
</node>
"""


def test_a_hugepage_guest_takes_whole_pages() -> None:
    demand = guest_demand(127 * KIB_PER_MIB, 50 * KIB_PER_MIB, hugepages=True, page_kib=2 * KIB_PER_MIB)
    assert demand.hugepages_kib == 128 * KIB_PER_MIB
    assert demand.memory_kib == 50 * KIB_PER_MIB  # the overhead only: its RAM is in the pool
    plain = guest_demand(127 * KIB_PER_MIB, 50 * KIB_PER_MIB, hugepages=False, page_kib=2 * KIB_PER_MIB)
    assert plain.resources() == {"memory_kib": 177 * KIB_PER_MIB}
    # 2032 MiB pools hold 15 whole 128 MiB guests each (16 if they were not rounded)
    pools = [{"memory_kib": 8 * 1024 * KIB_PER_MIB, "hugepages_kib": 2032 * KIB_PER_MIB}] * 2
    assert alone_count(demand, pools, vcpu_capacity=256, vcpu_count=1) == 30


@pytest.mark.parametrize(
    ("name", "memory", "hugepages", "expected"),
    [("huge-127", "127MiB", "true", 30), ("plain-127", "127MiB", "false", None)],
)
def test_fit_check_and_the_report_count_the_same_demand(
    tmp_path: Path, name: str, memory: str, hugepages: str, expected: int | None
) -> None:
    host_file = tmp_path / "host.yaml"
    host_file.write_text(HOST.format(name=name, memory=memory, hugepages=hugepages))
    empty = tmp_path / "empty.xml"
    empty.write_text(EMPTY_HOST_XML)
    planned = fit(host_file)
    alone = planned.alone_counts[name]  # the report's count at the guest's size
    (checked,) = check([f"test://{empty}"], host_path=host_file).hosts
    assert checked.ok, checked.error
    assert planned.guaranteed.total_guests == alone == checked.headroom[name]
    if expected is not None:
        assert alone == expected
        for node in planned.guaranteed.nodes:
            assert node.hugepages_used_kib == node.guests[name] * 128 * KIB_PER_MIB

"""planner.live: read-only snapshots of libvirt hosts, and its parsers on recorded output.

The domain side runs against the libvirt test driver with host files of our own
(tests/data/libvirt/host-*.xml); the host NUMA side against capabilities recorded
verbatim (the test driver models no cells for file hosts: reference/libvirt-recipes.md §2).
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from planner import live
from planner.errors import InputError, LiveQueryError

DATA = Path(__file__).parent / "data" / "libvirt"
pytest.importorskip("libvirt", reason="libvirt-python is not installed (pip install '.[libvirt]')")


def uri(name: str) -> str:
    return f"test://{(DATA / name).resolve()}"


# --- read-only by construction -----------------------------------------------------------------
#: the libvirt APIs planner.live may touch: each only reads (``openReadOnly`` makes the daemon refuse
#: the rest anyway). ``name``, ``state`` and ``hostname`` are also plain Python attributes there
#: (``DomainSnapshot.name``, ``urlsplit().hostname``); as libvirt calls they only read too.
READ_ONLY_APIS = {
    "openReadOnly",
    "registerErrorHandler",
    "close",
    "getInfo",
    "getType",
    "getLibVersion",
    "getHostname",
    "getCapabilities",
    "getMemoryStats",
    "getFreeMemory",
    "getCellsFreeMemory",
    "getFreePages",
    "getAllDomainStats",
    "XMLDesc",
    "memoryStats",
    "name",
    "state",
    "hostname",
}


def libvirt_api_names() -> set[str]:
    """Every method of a connection and a domain, and every function of the libvirt module."""
    import inspect

    import libvirt

    names = {n for n, obj in vars(libvirt).items() if inspect.isfunction(obj)}
    for cls in (libvirt.virConnect, libvirt.virDomain):
        names |= {n for n in dir(cls) if not n.startswith("_")}
    return names


def test_live_touches_only_read_only_libvirt_apis() -> None:
    """Every libvirt API named in planner.live, called or passed on as a bound method
    (``r.call("getInfo", conn.getInfo)``), is on the read-only list: a new call has to be
    added there on purpose. Mutating ones (``setMemory``, ``destroy``, ``open``) would fail."""
    sources = sorted(Path(live.__file__).parent.glob("*.py"))  # the package planner.live
    assert len(sources) > 1
    named = {
        node.attr
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
    }
    api = libvirt_api_names()
    assert {"setMemory", "destroy", "create", "open", "defineXML"} <= api  # the scan sees libvirt's API
    touched = named & api
    assert "openReadOnly" in touched and "getAllDomainStats" in touched
    assert touched <= READ_ONLY_APIS, (
        f"planner.live touches libvirt APIs not known to be read-only: {sorted(touched - READ_ONLY_APIS)}"
    )


def test_the_connection_is_read_only() -> None:
    """The daemon itself refuses writes on the connection planner.live opens."""
    import libvirt

    conn = live.open_read_only(uri("host-mixed.xml"))
    try:
        dom = conn.lookupByName("web-ballooned")
        with pytest.raises(libvirt.libvirtError, match="read only"):
            dom.setMemory(256 * 1024)
        assert dom.info()[2] == 512 * 1024
    finally:
        conn.close()


# --- URIs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "qemu", "not a uri", "qemu:/system", "/var/run/libvirt/libvirt-sock"])
def test_malformed_uri_is_input_error(bad: str) -> None:
    with pytest.raises(InputError, match="expected a libvirt URI"):
        live.validate_uri(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("test://relative/host.xml", "expected test:///ABSOLUTE/PATH.xml (three slashes)"),
        ("test:///nonexistent/host.xml", "expected a test-driver host file at /nonexistent/host.xml"),
    ],
)
def test_bad_test_driver_uri_is_input_error(bad: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        live.validate_uri(bad)
    assert live.validate_uri("test:///default") == "test:///default"
    assert live.validate_uri(uri("host-mixed.xml")) == uri("host-mixed.xml")


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("qemu:///system", True),
        ("qemu:///session", True),
        ("qemu+unix:///session?socket=/tmp/x/libvirt-sock", True),
        ("qemu+ssh://host/system", False),
        ("qemu+tcp://127.0.0.1:16509/system", False),
        ("test:///default", False),
        ("xen:///system", False),
    ],
)
def test_local_qemu_uri(text: str, local: bool) -> None:
    assert live.is_local_qemu_uri(text) is local


def test_unreachable_host_is_live_query_error() -> None:
    with pytest.raises(LiveQueryError, match=r"qemu\+tcp://127.0.0.1:1/system: cannot connect: .*refused"):
        live.snapshot("qemu+tcp://127.0.0.1:1/system")


def test_missing_socket_is_live_query_error(tmp_path: Path) -> None:
    with pytest.raises(LiveQueryError, match="No such file or directory"):
        live.snapshot(f"qemu+unix:///system?socket={tmp_path}/libvirt-sock")


def test_host_file_libvirt_refuses_is_live_query_error() -> None:
    with pytest.raises(LiveQueryError, match="cannot contain '/'"):
        live.snapshot(uri("host-bad-name.xml"))


# --- parsers -----------------------------------------------------------------------------------
def test_parse_capabilities_two_cells_recorded() -> None:
    nodes = live.parse_capabilities((DATA / "capabilities-test-default-2cells.xml").read_text())
    assert [n.node_id for n in nodes] == [0, 1]
    assert [n.memory_kib for n in nodes] == [2097152, 4194304]  # <memory unit='KiB'> of each cell
    assert nodes[0].cpu_ids == tuple(range(8))
    assert nodes[1].cpu_ids == tuple(range(8, 16))
    assert [(p.page_kib, p.total_pages) for p in nodes[0].hugepages] == [(4, 524288), (2048, 0), (1048576, 0)]
    assert all(n.free_kib is None for n in nodes)


def test_parse_capabilities_one_cell_real_daemon() -> None:
    (node,) = live.parse_capabilities((DATA / "capabilities-qemu-tcg-1cell.xml").read_text())
    assert node.node_id == 0
    assert node.memory_kib == 5466316
    assert node.cpu_ids == (0, 1)
    assert node.hugepages[0] == live.HugePagePool(page_kib=4, total_pages=1366579)


def test_parse_capabilities_rejects_garbage() -> None:
    with pytest.raises(InputError, match="expected capabilities XML"):
        live.parse_capabilities("<capabilities><host>")


@pytest.mark.parametrize(
    ("value", "unit", "kib"),
    [
        ("128", "MiB", 131072),
        ("128", "M", 131072),
        ("1", "GiB", 1048576),
        ("1", "G", 1048576),
        ("2048", "KiB", 2048),
        ("2048", None, 2048),
        ("1000", "KB", 976),  # libvirt: KB = 1000 bytes
        ("1048576", "b", 1024),
        ("1", "TiB", 1073741824),
    ],
)
def test_scale_to_kib(value: str, unit: str | None, kib: int) -> None:
    assert live.scale_to_kib(value, unit) == kib


def test_scale_to_kib_rejects_unknown_unit() -> None:
    with pytest.raises(InputError, match="libvirt size unit"):
        live.scale_to_kib("1", "XB")


@pytest.mark.parametrize(
    ("text", "nodes"),
    [("0", (0,)), ("0-3", (0, 1, 2, 3)), ("0-3,^2", (0, 1, 3)), ("1,3-4", (1, 3, 4)), ("", ())],
)
def test_parse_nodeset(text: str, nodes: tuple[int, ...]) -> None:
    assert live.parse_nodeset(text) == nodes


def test_parse_nodeset_rejects_garbage() -> None:
    with pytest.raises(InputError, match="node set"):
        live.parse_nodeset("0-x")


def test_parse_domain_xml_everything() -> None:
    xml = """<domain type='kvm'>
      <name>&lt;b&gt;x&lt;/b&gt; größe</name><uuid>0e9b7c11-0000-4000-8000-000000000001</uuid>
      <memory unit='GiB'>2</memory><currentMemory unit='MiB'>1536</currentMemory>
      <vcpu placement='static' current='3'>8</vcpu>
      <memoryBacking><hugepages><page size='1' unit='G'/></hugepages><locked/></memoryBacking>
      <numatune><memory mode='preferred' nodeset='1-3,^2'/>
        <memnode cellid='0' mode='strict' nodeset='1'/><memnode cellid='1' mode='interleave' nodeset='3'/>
      </numatune>
      <cpu><numa>
        <cell id='0' cpus='0-3' memory='1' unit='GiB'/><cell id='1' cpus='4-7' memory='1048576'/>
      </numa></cpu>
      <os><type arch='x86_64'>hvm</type><kernel>/boot/vmlinuz-6.1.0-56-cloud-amd64</kernel></os>
      <devices><memballoon model='virtio'><stats period='10'/></memballoon></devices>
    </domain>"""
    cfg = live.parse_domain_xml(xml)
    assert cfg.name == "<b>x</b> größe"
    assert cfg.domain_type == "kvm"
    assert (cfg.max_memory_kib, cfg.current_memory_kib) == (2097152, 1572864)
    assert (cfg.vcpu_count, cfg.max_vcpu_count) == (3, 8)
    assert cfg.hugepage_kib == 1048576
    assert cfg.memory_locked
    assert (cfg.numa_mode, cfg.numa_nodeset) == ("preferred", (1, 3))
    assert cfg.memnodes == (live.MemNode(0, "strict", (1,)), live.MemNode(1, "interleave", (3,)))
    assert cfg.guest_numa_cells_kib == (1048576, 1048576)
    assert (cfg.balloon_model, cfg.balloon_stats_period_s) == ("virtio", 10)
    assert cfg.kernel_path == "/boot/vmlinuz-6.1.0-56-cloud-amd64"


def test_parse_domain_xml_minimal_defaults() -> None:
    cfg = live.parse_domain_xml("<domain type='test'><name>a</name><memory>65536</memory></domain>")
    assert (cfg.max_memory_kib, cfg.current_memory_kib, cfg.vcpu_count) == (65536, 65536, 1)
    assert cfg.hugepage_kib is None and cfg.numa_mode is None and cfg.balloon_model is None


def test_parse_domain_xml_without_memory() -> None:
    with pytest.raises(InputError, match="expected a <memory> element"):
        live.parse_domain_xml("<domain><name>a</name></domain>")


def test_balloon_from_bulk_stats_real_daemon() -> None:
    """``getAllDomainStats`` record of a 128 MiB TCG guest (reference/libvirt-recipes.md §3 run)."""
    stats = {
        "state.state": 1,
        "balloon.current": 131072,
        "balloon.maximum": 131072,
        "balloon.unused": 68636,
        "balloon.available": 94928,
        "balloon.usable": 74120,
        "balloon.last-update": 1795767660,
        "balloon.disk_caches": 2216,
        "balloon.rss": 212876,
    }
    b = live.balloon_from_stats(stats)
    assert b == live.BalloonStats(131072, 131072, 94928, 74120, 68636, 2216, 212876, 1795767660)
    assert b.guest_reported
    assert live.balloon_from_stats({"state.state": 5}) is None
    only_rss = live.balloon_from_stats({"actual": 131072, "rss": 212608}, prefix="")
    assert only_rss is not None and not only_rss.guest_reported


def test_smaps_of_a_real_qemu_process() -> None:
    """Recorded from the libvirtd lab's 128 MiB TCG guest (tests/data/libvirt/README.md)."""
    rollup = live.parse_smaps_rollup((DATA / "qemu-tcg-128mib.smaps_rollup").read_text())
    assert (rollup["Rss"], rollup["Pss"]) == (208920, 192726)
    maps = live.parse_smaps((DATA / "qemu-tcg-128mib.smaps").read_text())
    assert sum(m.rss_kib for m in maps) == rollup["Rss"]
    (ram,) = live.guest_ram_mappings(maps, [131072]) or []
    assert (ram.perms, ram.size_kib, ram.rss_kib) == ("rw-p", 131072, 114688)
    # the TCG translation cache is the big rwx mapping, never taken for guest RAM
    assert any(m.perms == "rwxp" and m.size_kib > 1000000 for m in maps)
    assert live.guest_ram_mappings(maps, [262144]) is None


def test_process_memory_from_recorded_proc(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    pid_dir = proc / "4242"
    pid_dir.mkdir(parents=True)
    for name in ("smaps", "smaps_rollup", "status", "cmdline"):
        shutil.copyfile(DATA / f"qemu-tcg-128mib.{name}", pid_dir / name)
    (proc / "self").mkdir()
    m = live.process_memory(4242, [131072], proc=proc)
    assert (m.rss_kib, m.pss_kib, m.guest_ram_rss_kib, m.page_tables_kib) == (208920, 192726, 114688, 552)
    assert m.overhead_rss_kib == 208920 - 114688
    # RssFile (qemu and its libraries) counts once per host, not in the per-guest overhead
    assert m.file_rss_kib == 23780
    assert m.host_overhead_kib == 208920 - 114688 - 23780 + 552
    uuid = (DATA / "qemu-tcg-128mib.cmdline").read_bytes().split(b"\0")
    expected = uuid[uuid.index(b"-uuid") + 1].decode()
    assert live.qemu_pids_by_uuid(proc) == {expected: 4242}


# --- the test driver ---------------------------------------------------------------------------
def test_snapshot_of_a_test_driver_host() -> None:
    snap = live.snapshot(uri("host-mixed.xml"))
    assert snap.driver == "TEST"
    assert (snap.arch, snap.cpu_count, snap.info_memory_kib) == ("x86_64", 16, 64 * 1024 * 1024)
    assert snap.nodes == ()  # a file host has no NUMA cells (libvirt 9.0 test driver)
    assert snap.free_kib is None  # placeholders are not used
    assert not snap.local
    by_name = {d.name: d for d in snap.domains}
    assert len(by_name) == 10

    web = by_name["web-ballooned"]
    assert (web.state, web.active) == ("running", True)
    assert (web.config.max_memory_kib, web.current_memory_kib) == (1048576, 524288)
    assert (web.config.vcpu_count, web.config.max_vcpu_count) == (2, 4)
    assert web.balloon is not None and web.balloon.current_kib == 524288
    # the test driver's guest figures are made up from <currentMemory> (recipes §2): dropped
    assert not web.balloon.guest_reported and web.balloon.usable_kib is None

    assert (by_name["db-paused"].state, by_name["db-paused"].active) == ("paused", True)
    assert by_name["db-paused"].balloon is None  # memballoon model='none'
    assert (by_name["archive-off"].state, by_name["archive-off"].active) == ("shutoff", False)
    assert by_name["archive-off"].balloon is None

    huge = by_name["huge2m-node0"].config
    assert (huge.hugepage_kib, huge.memory_locked, huge.numa_mode, huge.numa_nodeset) == (
        2048,
        True,
        "strict",
        (0,),
    )
    huge1g = by_name["huge1g-node1"].config
    assert (huge1g.hugepage_kib, huge1g.numa_mode, huge1g.numa_nodeset) == (1048576, "preferred", (1,))
    assert by_name["interleaved"].config.numa_nodeset == (0, 1)
    assert by_name["guest-numa"].config.guest_numa_cells_kib == (1048576, 1048576)
    assert by_name["squeezed"].current_memory_kib == 40 * 1024

    assert '<img src=x onerror="alert(1)">&<script>' in by_name
    assert "größe-日本-ünïcode" in by_name


def test_snapshot_of_test_default_has_numa_cells() -> None:
    snap = live.snapshot("test:///default")
    assert [n.memory_kib for n in snap.nodes] == [2097152, 4194304]
    (dom,) = snap.domains
    assert (dom.name, dom.config.max_memory_kib, dom.current_memory_kib) == ("test", 8388608, 2097152)


def test_read_host_reports_a_lost_connection() -> None:
    """A connection that breaks mid-check (here: closed under it) is a LiveQueryError naming the step."""
    conn = live.open_read_only(uri("host-mixed.xml"))
    conn.close()
    with pytest.raises(LiveQueryError, match="getInfo"):
        live.read_host(conn, uri("host-mixed.xml"))


class _DestroyAfterStats:
    """A real read-only connection; right after ``getAllDomainStats`` answers, a domain is
    destroyed through a second (admin) connection, as happens when a guest stops mid-check."""

    def __init__(self, conn: Any, admin: Any, name: str) -> None:
        self._conn, self._admin, self._name = conn, admin, name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._conn, attr)

    def getAllDomainStats(self, flags: int) -> Any:
        records = self._conn.getAllDomainStats(flags)
        self._admin.lookupByName(self._name).destroy()
        return records


def test_a_domain_that_vanishes_mid_check_is_a_note() -> None:
    import libvirt

    live.load_libvirt()
    admin = libvirt.open("test:///default")  # test:///default is one shared host per process
    try:
        admin.createXML(
            "<domain type='test'><name>vanishing</name><memory>65536</memory>"
            "<os><type>hvm</type></os></domain>",
            0,
        )
        conn = live.open_read_only("test:///default")
        try:
            snap = live.read_host(_DestroyAfterStats(conn, admin, "vanishing"), "test:///default")
        finally:
            conn.close()
    finally:
        admin.close()
    assert [d.name for d in snap.domains] == ["test"]
    assert any("disappeared during the check" in n and "vanishing" in n for n in snap.notes)

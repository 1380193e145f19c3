"""Host files and profiles: bad input gives one located line that says what was expected and found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.inputs.hostfile import load_host_file
from planner.inputs.profiles import list_profile_names
from planner.inputs.schema import host_file_schema
from planner.inputs.yaml import load_yaml


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "host.yaml"
    path.write_text(text)
    return path


def _error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_host_file(path)
    return str(err.value)


def test_unknown_profile_lists_the_existing_ones(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: kvm-nope\n",
    )
    known = ", ".join(list_profile_names("guests"))
    assert _error(path) == (
        f"{path}:6: guests[0].profile: unknown guest profile 'kvm-nope'; expected one of: {known}"
    )
    assert "zvm-s390x-64mib" in known


def test_unknown_hypervisor_lists_the_existing_ones(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "host:\n  memory: 64GiB\n  cpus: 8\n  hypervisor: hyperv\nguests:\n  - profile: x\n"
    )
    known = ", ".join(list_profile_names("hypervisors"))
    assert _error(path) == f"{path}:4: host.hypervisor: unknown hypervisor 'hyperv'; expected one of: {known}"


def test_duplicate_key_names_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  cpus: 8\n  memory: 32GiB\n  hypervisor: zvm\nguests:\n  - profile: x\n",
    )
    assert (
        _error(path)
        == f"{path}:4: host.memory: duplicate key 'memory'; expected each key once (first at line 2)"
    )


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  memory: 64GiB\n  cpus: [8\nguests:\n  - profile: x\n")
    message = _error(path)
    assert message.startswith(f"{path}:4: YAML syntax error: ")
    assert "expected ',' or ']'" in message


def test_negative_size(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  memory: -5MiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert (
        _error(path)
        == f"{path}:2: host.memory: expected a positive size such as 64GiB or 128MiB; found '-5MiB'"
    )


def test_size_without_unit_and_with_unknown_unit(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  memory: 65536\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert _error(path) == (
        f"{path}:2: host.memory: expected a size with a unit, such as 65536MiB or 65536KiB; found 65536"
    )
    path = _write(tmp_path, "host:\n  memory: 64XB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert _error(path) == (
        f"{path}:2: host.memory: expected a size such as 128MiB, 2GiB or 65536k; "
        "found '64XB' (unknown unit 'XB')"
    )


def test_absurd_sizes_and_counts(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  memory: 8ZiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert "host.memory: expected a size such as" in _error(path)  # ZiB is no unit we accept
    path = _write(tmp_path, "host:\n  memory: 8EiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert "host.memory: expected at most 4PiB (the x86-64 physical address limit)" in _error(path)
    path = _write(tmp_path, "host:\n  memory: 6PiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert "host.memory" in _error(path)
    path = _write(
        tmp_path, "host:\n  memory: 16384TiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: x\n"
    )
    assert _error(path) == (
        f"{path}:2: host.memory: expected at most 4PiB (the x86-64 physical address limit); found 16 PiB"
    )
    path = _write(
        tmp_path, "host:\n  memory: 64GiB\n  cpus: 100000\n  hypervisor: zvm\nguests:\n  - profile: x\n"
    )
    assert _error(path) == f"{path}:3: host.cpus: expected less than or equal to 8192; found 100000"
    path = _write(tmp_path, "host:\n  memory: 64GiB\n  cpus: 0\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert _error(path) == f"{path}:3: host.cpus: expected greater than or equal to 1; found 0"


def test_unknown_field_lists_the_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  cpus: 8\n  hypervisr: zvm\n  hypervisor: zvm\nguests:\n  - profile: x\n",
    )
    message = _error(path)
    assert message.startswith(
        f"{path}:4: host.hypervisr: unknown field; expected one of memory, node_memory, "
    )


def test_missing_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  memory: 64GiB\n  hypervisor: zvm\nguests:\n  - profile: x\n")
    assert _error(path) == f"{path}:1: host.cpus: required field is missing; expected a value"


def test_node_memory_must_add_up(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  node_memory: [16GiB, 32GiB]\n  cpus: 8\n  hypervisor: zvm\n"
        "guests:\n  - profile: x\n",
    )
    assert _error(path) == f"{path}:2: host.memory: expected the sum of node_memory (48 GiB); found 64 GiB"


def test_kvm_host_needs_a_kernel(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  cpus: 8\n  hypervisor: kvm-qemu\nguests:\n  - profile: kvm-cloud-128mib\n",
    )
    message = _error(path)
    assert message.startswith(
        f"{path}:1: host.kernel: required for kvm-qemu: the host's Linux kernel manages all RAM; "
        "its own overhead is subtracted per node; expected a kernel calibration (one of: "
    )


def test_unknown_host_kernel(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 64GiB\n  cpus: 8\n  kernel: linux-9.9\n  hypervisor: kvm-qemu\n"
        "guests:\n  - profile: kvm-cloud-128mib\n",
    )
    message = _error(path)
    assert message.startswith(f"{path}:4: host.kernel: expected ")
    assert message.endswith("found 'linux-9.9'")
    from planner.inputs.calibrations import list_calibrations

    for name, _ in list_calibrations():  # the message lists the kernels that exist
        assert name in message


def test_profile_for_another_hypervisor(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 16GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: kvm-cloud-128mib\n",
    )
    assert _error(path) == (
        f"{path}:6: guests[0].profile: profile 'kvm-cloud-128mib' runs under kvm-qemu, qemu-tcg; "
        "expected a profile for zvm (one of: zvm-s390x-128mib, zvm-s390x-64mib)"
    )


def test_hugepages_must_be_whole_pages(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 16GiB\n  cpus: 8\n  hypervisor: zvm\n  hugepages:\n    page_size: 1GiB\n"
        "    per_node: 1536MiB\nguests:\n  - profile: zvm-s390x-64mib\n",
    )
    assert _error(path) == f"{path}:7: host.hugepages.per_node: expected a multiple of 1GiB; found 1.5 GiB"


def test_max_below_min(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 16GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: zvm-s390x-64mib\n"
        "    min: 5\n    max: 2\n",
    )
    assert _error(path) == f"{path}:8: guests[0].max: expected max >= min (5); found 2"


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert (
        _error(_write(tmp_path, ""))
        == f"{tmp_path / 'host.yaml'}:1: expected a YAML mapping; found an empty file"
    )
    assert _error(_write(tmp_path, "- a\n- b\n")) == (
        f"{tmp_path / 'host.yaml'}:1: expected a YAML mapping at the top; found list"
    )


def test_missing_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.yaml") == (
        f"{tmp_path / 'nope.yaml'}: expected a readable host file; found No such file or directory"
    )


def test_load_yaml_records_lines() -> None:
    data, lines = load_yaml("a:\n  b: 1\n  c:\n    - x\n    - y: 2\n", "t.yaml")
    assert data == {"a": {"b": 1, "c": ["x", {"y": 2}]}}
    assert lines[("a",)] == 1
    assert lines[("a", "b")] == 2
    assert lines[("a", "c", 1)] == 5
    assert lines[("a", "c", 1, "y")] == 5


def test_schema_is_json_and_documents_the_fields() -> None:
    schema = host_file_schema()
    json.dumps(schema)
    assert set(schema["properties"]) == {"host", "guests", "objective", "scenario"}
    host = schema["$defs"]["HostModel"]["properties"]
    assert {"memory", "numa_nodes", "cpus", "kernel", "hypervisor", "operator_reserve", "vcpu_ratio"} <= set(
        host
    )
    assert schema["$defs"]["HostModel"]["additionalProperties"] is False


def test_every_shipped_guest_profile_loads_and_names_sources() -> None:
    from planner.inputs.profiles import load_guest_profile

    for name in list_profile_names("guests"):
        profile = load_guest_profile(name)
        assert profile.name == name
        assert {"memory", "vcpus"} <= set(profile.sources)


def test_empty_node_memory(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  node_memory: []\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: zvm-s390x-64mib\n",
    )
    assert _error(path) == f"{path}:2: host.node_memory: expected at least 1 entry; found []"


def test_a_guest_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "host:\n  memory: 16GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - zvm-s390x-64mib\n"
    )
    assert _error(path) == (
        f"{path}:6: guests[0]: expected a mapping with keys such as profile, name, min, max, weight, "
        "hugepages, memory, vcpus, workload; found 'zvm-s390x-64mib'"
    )


def test_a_guest_with_more_vcpus_than_the_host_has_cpus(tmp_path: Path) -> None:
    host = "host:\n  memory: 16GiB\n  cpus: 1\n  kernel: debian12-amd64\n  hypervisor: kvm-qemu\nguests:\n"
    path = _write(tmp_path, host + "  - profile: kvm-cloud-2gib-2vcpu\n")
    assert _error(path) == (
        f"{path}:7: guests[0].profile: expected at most the host's 1 CPUs; found 2 vCPUs in profile "
        "'kvm-cloud-2gib-2vcpu' (override them with vcpus:)"
    )
    path = _write(tmp_path, host + "  - profile: kvm-cloud-128mib\n    vcpus: 4\n")
    assert _error(path) == f"{path}:8: guests[0].vcpus: expected at most the host's 1 CPUs; found 4 vCPUs"


def test_a_host_file_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"host:\n  memory: 4GiB\n# gr\xf6\xdfe\n")
    assert _error(path) == (
        f"{path}:3: expected a host file in UTF-8; found byte 0xf6, which is not UTF-8 "
        "(a binary file, or text saved as Latin-1?)"
    )


def test_a_guest_profile_that_is_a_binary_file(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bin")
    path = _write(
        tmp_path,
        f"host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: {binary}\n",
    )
    assert _error(path).startswith(f"{binary}:1: expected a guest profile in UTF-8; found byte 0xff")


def test_relative_paths_in_a_host_file_are_taken_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    shipped = Path(__file__).parent.parent / "profiles"
    (sub / "k.yaml").write_text((shipped / "kernels" / "debian12-s390x.yaml").read_text())
    profile = (shipped / "guests" / "zvm-s390x-128mib.yaml").read_text()
    (sub / "myp.yaml").write_text(
        profile.replace("name: zvm-s390x-128mib", "name: mine").replace(
            "kernel: debian12-s390x", "kernel: k.yaml"
        )
    )
    (sub / "h.yaml").write_text(
        "host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: myp.yaml\n"
    )
    monkeypatch.chdir(tmp_path)  # neither sub/myp.yaml nor sub/k.yaml is in the current directory
    host_file = load_host_file("sub/h.yaml")
    assert host_file.guests[0].profile.name == "mine"
    assert host_file.guests[0].profile.origin.file == str(Path("sub") / "myp.yaml")
    assert host_file.guests[0].calibration.name == "debian12-s390x"
    (sub / "h.yaml").write_text(
        "host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm\nguests:\n  - profile: nosuch.yaml\n"
    )
    assert _error(Path("sub/h.yaml")) == (
        "sub/h.yaml:6: guests[0].profile: expected a profile YAML file; found no file 'nosuch.yaml' "
        "(looked for 'sub/nosuch.yaml': a relative path is taken from the directory of sub/h.yaml)"
    )


def test_the_schema_documents_a_guest_name() -> None:
    entry = host_file_schema()["$defs"]["GuestEntryModel"]["properties"]
    assert "name" in entry and "unique" in entry["name"]["description"]


def test_a_guest_name_must_be_printable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "host:\n  memory: 4GiB\n  cpus: 8\n  hypervisor: zvm\n"
        'guests:\n  - profile: zvm-s390x-64mib\n    name: "a\\tb"\n',
    )
    assert _error(path) == (
        f"{path}:7: guests[0].name: expected a name of 1 to 100 printable characters; found 'a\\tb'"
    )

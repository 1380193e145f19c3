"""planner tune on the command line: a shipped profile and an example host file (text, --json,
--csv), guests per host computed both ways (tune against `planner fit` on the tuned inputs
written as files), and bad input as one line with exit code 2."""

from __future__ import annotations

import csv
import dataclasses
import json
import typing
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner import data_dir
from planner.cli import app
from planner.errors import InputError
from planner.inputs.calibrations import load_calibration
from planner.inputs.hostfile import load_host_file
from planner.inputs.profiles import load_guest_profile
from planner.kernel.model import GuestSpec
from planner.kernel.tuning import tune_guest
from planner.workflows.tune import tune, tune_host_file
from planner.workflows.tune_inputs import DEFAULT_HOSTS

ROOT = Path(__file__).resolve().parents[1]
TWO_NODES = ROOT / "examples" / "kvm-two-nodes.yaml"
MIB = 1024

runner = CliRunner()


def _json(args: list[str]) -> dict[str, typing.Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, typing.Any] = json.loads(result.stdout)
    return data


def _fit_total(host: Path) -> dict[str, typing.Any]:
    return _json(["fit", str(host)])


@pytest.fixture(scope="module")
def profile_json() -> dict[str, typing.Any]:
    return _json(["tune", "kvm-cloud-128mib"])


@pytest.fixture(scope="module")
def host_json() -> dict[str, typing.Any]:
    return _json(["tune", str(TWO_NODES)])


# --- a guest profile ------------------------------------------------------------------------------
def test_profile_candidates_are_the_kernel_models(profile_json: dict[str, typing.Any]) -> None:
    """The command shows what the library computes for the profile's guest, term by term."""
    profile = load_guest_profile("kvm-cloud-128mib")
    assert profile.memory_kib != "auto"
    spec = GuestSpec(profile.memory_kib, profile.vcpu_count, None, profile.cmdline, profile.machine)
    lib = tune_guest(load_calibration(profile.kernel), spec)
    (guest,) = profile_json["guests"]
    assert [c["option"] for c in guest["candidates"]] == [c.change.label for c in lib.candidates]
    for shown, c in zip(guest["candidates"], lib.candidates, strict=True):
        assert shown["saving_kib"] == c.saving_kib > 0
        assert shown["terms_kib"] == c.terms_kib
        assert shown["risk"] and shown["versions"]
    rec = guest["recommendation"]
    assert rec["cmdline"] == lib.recommendation.cmdline
    assert rec["same_usable_memory_kib"] == lib.recommendation.same_usable_memory_kib < profile.memory_kib
    assert profile_json["host_kernel"] is None and profile_json["target_kind"] == "guest_profile"
    # the waterfall's steps add up to the recommendation
    assert sum(s["saving_kib"] for s in guest["steps"]) == rec["saving_kib"]


def _host_yaml(tmp_path: Path, name: str, host: dict[str, typing.Any], profile: str | Path) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"host": host, "guests": [{"profile": str(profile)}]}))
    return path


def _tuned_profile(tmp_path: Path, name: str, cmdline: str, memory_kib: int | None) -> Path:
    """The shipped profile ``name`` with a new command line and size (None: keep ``auto``)."""
    data = yaml.safe_load((data_dir("profiles") / "guests" / f"{name}.yaml").read_text())
    data["cmdline"] = cmdline
    if memory_kib is not None:
        data["memory"] = f"{memory_kib // MIB}MiB"
    path = tmp_path / f"{name}-tuned.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_host_gain_equals_fit_on_the_tuned_profile(
    profile_json: dict[str, typing.Any], tmp_path: Path
) -> None:
    """Guests per host before and after, computed by `planner fit` on files: the default host
    written out, with the profile as shipped and as tuned (its command line, its new size)."""
    default = DEFAULT_HOSTS["x86_64"]
    host = {
        "node_memory": [f"{kib // MIB}MiB" for kib in default.node_memory_kib],
        "cpus": default.cpu_count,
        "vcpu_ratio": default.vcpu_ratio,
        "kernel": default.kernel,
        "hypervisor": "kvm-qemu",
        "operator_reserve": f"{default.operator_reserve_kib // MIB}MiB",
    }
    (guest,) = profile_json["guests"]
    rec = guest["recommendation"]
    tuned = _tuned_profile(tmp_path, "kvm-cloud-128mib", rec["cmdline"], rec["same_usable_memory_kib"])
    before = _fit_total(_host_yaml(tmp_path, "before.yaml", host, "kvm-cloud-128mib"))
    after = _fit_total(_host_yaml(tmp_path, "after.yaml", host, tuned))
    assert profile_json["guests_per_host_before"] == before["total_guests"]
    assert profile_json["guests_per_host_after"] == after["total_guests"]
    assert after["total_guests"] > before["total_guests"]  # 4 MiB less per guest adds guests
    assert (
        after["per_guest"]["kvm-cloud-128mib"]["host_cost_kib"]
        == (profile_json["combined"]["guests"]["kvm-cloud-128mib"]["host_cost_kib"])
    )


def test_host_option_packs_the_profile_on_that_host(tmp_path: Path) -> None:
    data = _json(["tune", "kvm-cloud-256mib", "--host", str(TWO_NODES)])
    assert data["host"]["source"] == "--host" and data["host"]["path"] == str(TWO_NODES)
    host = yaml.safe_load(TWO_NODES.read_text())["host"]
    before = _fit_total(_host_yaml(tmp_path, "before.yaml", host, "kvm-cloud-256mib"))
    assert data["guests_per_host_before"] == before["total_guests"]
    rec = data["guests"][0]["recommendation"]
    tuned = _tuned_profile(tmp_path, "kvm-cloud-256mib", rec["cmdline"], rec["same_usable_memory_kib"])
    after = _fit_total(_host_yaml(tmp_path, "after.yaml", host, tuned))
    assert data["guests_per_host_after"] == after["total_guests"]


def test_profile_text(profile_json: dict[str, typing.Any]) -> None:
    result = runner.invoke(app, ["tune", "kvm-cloud-128mib"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    rec = profile_json["guests"][0]["recommendation"]
    before, after = profile_json["guests_per_host_before"], profile_json["guests_per_host_after"]
    assert f"guests per host: {before:,} now, {after:,} with the recommendation below" in out
    assert "recommendation: paste on the guest's kernel command line\n    " + rec["cmdline"] + "\n" in out
    assert "the default x86_64 host (the host of examples/kvm-two-nodes.yaml" in out
    assert "risk: " in out and "how guests per host are counted:" in out
    for c in profile_json["guests"][0]["candidates"]:
        assert f"{c['option']}" in out and f"{c['saving_kib']:,}" in out


def test_auto_profile_is_sized_again_by_fit() -> None:
    """A `memory: auto` guest is packed at the size fit's own rule gives it with the tuned line."""
    data = _json(["tune", "kvm-web-auto"])
    guest = data["guests"][0]
    assert guest["memory_auto"] is True
    now, tuned = data["baseline"]["guests"]["kvm-web-auto"], data["combined"]["guests"]["kvm-web-auto"]
    assert tuned["guest_memory_kib"] < now["guest_memory_kib"]
    assert tuned["guest_memory_kib"] % (4 * MIB) == 0
    assert tuned["usable_kib"] >= 200 * MIB  # the profile's workload still fits


# --- a host file ----------------------------------------------------------------------------------
def test_host_file_combined_gain_equals_fit_on_tuned_files(
    host_json: dict[str, typing.Any], tmp_path: Path
) -> None:
    """Every recommendation at once, written as files (host cmdline, one tuned profile per guest
    entry, the entries' bounds kept), packed by `planner fit`: the same counts."""
    doc = yaml.safe_load(TWO_NODES.read_text())
    doc.pop("scenario", None)
    doc["host"]["cmdline"] = host_json["host_kernel"]["recommendation"]["cmdline"]
    for entry, guest in zip(doc["guests"], host_json["guests"], strict=True):
        assert entry["profile"] == guest["profile"]
        memory = (
            None
            if guest["memory_auto"]
            else host_json["combined"]["guests"][guest["name"]]["guest_memory_kib"]
        )
        entry["profile"] = str(
            _tuned_profile(tmp_path, guest["profile"], guest["recommendation"]["cmdline"], memory)
        )
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(yaml.safe_dump(doc))
    fitted = _fit_total(tuned)
    assert fitted["total_guests"] == host_json["guests_per_host_after"]
    assert fitted["guests"] == {k: v["count"] for k, v in host_json["combined"]["guests"].items()}
    assert _fit_total(TWO_NODES)["total_guests"] == host_json["guests_per_host_before"]
    assert host_json["guests_per_host_after"] > host_json["guests_per_host_before"]


def test_host_kernel_alone_equals_fit_with_its_cmdline(
    host_json: dict[str, typing.Any], tmp_path: Path
) -> None:
    host = host_json["host_kernel"]
    assert host["role"] == "host" and host["candidates"]
    doc = yaml.safe_load(TWO_NODES.read_text())
    doc["host"]["cmdline"] = host["recommendation"]["cmdline"]
    path = tmp_path / "host-tuned.yaml"
    path.write_text(yaml.safe_dump(doc))
    fitted = _fit_total(path)
    assert fitted["total_guests"] == host["guests_per_host_after"]
    assert [n["capacity_kib"] for n in fitted["nodes"]] == host["after"]["node_capacity_kib"]
    freed = sum(host["after"]["node_capacity_kib"]) - sum(host["before"]["node_capacity_kib"])
    assert freed == host["recommendation"]["saving_kib"]  # what the host kernel keeps less


def test_host_file_text_and_csv(host_json: dict[str, typing.Any], tmp_path: Path) -> None:
    out_dir = tmp_path / "csv"
    result = runner.invoke(app, ["tune", str(TWO_NODES), "--csv", str(out_dir)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.count("recommendation: paste on the guest's kernel command line") == 4
    assert "recommendation: paste on the host's kernel command line" in text
    assert "every recommendation at once (host, kvm-cloud-512mib" in text
    before, after = host_json["guests_per_host_before"], host_json["guests_per_host_after"]
    assert f"guests per host: {before:,} now, {after:,} with the recommendations below" in text
    with (out_dir / "packings.csv").open() as f:
        packings = list(csv.DictReader(f))
    assert packings[0]["packing"] == "now" and int(packings[0]["guests_per_host"]) == before
    assert packings[-1]["packing"] == "all tuned" and int(packings[-1]["guests_per_host"]) == after
    with (out_dir / "k-host-candidates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["saving_kib"]) for r in rows] == [
        c["saving_kib"] for c in host_json["host_kernel"]["candidates"]
    ]


def test_xen_host_file_leaves_the_host_kernel_alone() -> None:
    data = _json(["tune", str(ROOT / "examples" / "xen-host.yaml")])
    assert data["host_kernel"] is None
    assert "host kernel" in data["host_kernel_skipped"]
    assert [g["name"] for g in data["guests"]] == ["xen-pv-128mib", "xen-hvm-256mib"]


# --- bad input ------------------------------------------------------------------------------------
BAD = [
    (["tune", "no-such-profile"], "TARGET: expected a guest profile (one of: esxi-amd64-1gib-2vcpu"),
    (["tune", "."], "TARGET: expected a guest profile or a host file (YAML); found the directory '.'"),
    (
        ["tune", str(TWO_NODES), "--host", str(TWO_NODES)],
        "--host: expected --host only with a guest profile TARGET",
    ),
    (["tune", "kvm-cloud-128mib", "-o", "x"], "-o: expected only with --verify; found it without"),
    (["tune", "kvm-cloud-128mib", "--jobs", "2"], "--jobs: expected only with --verify; found it without"),
    (
        ["tune", "kvm-cloud-128mib", "--host", str(ROOT / "examples" / "xen-host.yaml")],
        "--host: profile 'kvm-cloud-128mib' runs under kvm-qemu, qemu-tcg; expected a profile for xen-pv",
    ),
    (
        ["tune", "kvm-s390x-64mib", "--host", str(TWO_NODES)],
        "--host: expected a host of the guest's architecture (s390x); found an x86_64 host",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("planner: error: ")
    assert message in result.stderr, result.stderr


def test_verify_refuses_a_guest_qemu_cannot_boot_before_booting(tmp_path: Path) -> None:
    """A z/VM machine (the vmcp CMA area the model adds exists only there) is not emulated."""
    data = yaml.safe_load((data_dir("profiles") / "guests" / "zvm-s390x-64mib.yaml").read_text())
    data["machine"] = "zvm"
    path = tmp_path / "zvm-machine.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["tune", str(path), "--verify", "-o", str(tmp_path / "boots")])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "planner: error: --verify: expected a guest kernel qemu can boot; found none (--verify: "
        "zvm-s390x-64mib not booted: machine 'zvm' is not one qemu emulates)\n"
    )
    assert not (tmp_path / "boots").exists()


def test_a_host_file_with_nothing_to_tune_is_bad_input() -> None:
    """No guest entry and no host kernel the planner subtracts (a Xen host): nothing to tune."""
    path = ROOT / "examples" / "xen-host.yaml"
    read = load_host_file(path)
    empty = type(read)(read.path, read.host, (), read.objective, None)
    with pytest.raises(InputError, match="expected a guest entry or a host kernel the planner models"):
        tune_host_file(empty, target=str(path), source="host file")


def test_library_and_cli_agree(profile_json: dict[str, typing.Any]) -> None:
    assert tune("kvm-cloud-128mib").to_json()["guests"] == profile_json["guests"]


def test_verify_takes_the_accelerators_bootlab_takes() -> None:
    from planner.bootlab.campaign import Accel
    from planner.workflows.tune_verify import ACCELS

    assert typing.get_args(Accel) == ACCELS
    result = runner.invoke(app, ["tune", "kvm-cloud-128mib", "--verify", "--accel", "xen"])
    assert result.exit_code == 2 and result.stderr == (
        "planner: error: --accel: expected one of auto, tcg, kvm; found 'xen'\n"
    )


# --- the known facts, through the command ----------------------------------------------------
def _profile_with(tmp_path: Path, memory: str, cmdline: str) -> Path:
    data = yaml.safe_load((data_dir("profiles") / "guests" / "kvm-cloud-512mib.yaml").read_text())
    data.update(name=f"cloud-{memory.lower()}", memory=memory, cmdline=cmdline)
    path = tmp_path / f"cloud-{memory.lower()}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_known_facts_through_the_command(tmp_path: Path) -> None:
    """Measured before (tests/data/bootlab/tune, test_tuning.py): hash tables at 1024 entries at
    512 MiB -752 KiB of reserved; swiotlb=noforce at 4 GiB 66,316 KiB; the default log buffer
    against log_buf_len=1M 4,608 KiB of MemTotal."""
    at_512 = _json(["tune", "kvm-cloud-512mib"])["guests"][0]["candidates"]
    hashes = [c for c in at_512 if c["option"] in ("dhash_entries=1024", "ihash_entries=1024")]
    assert sum(c["totals_delta_kib"]["reserved_kib"] for c in hashes) == -752
    at_4g = _json(["tune", str(_profile_with(tmp_path, "4GiB", ""))])["guests"][0]["candidates"]
    swiotlb = next(c for c in at_4g if c["option"] == "swiotlb=noforce")
    assert swiotlb["terms_kib"]["swiotlb"] == 66316
    logbuf = _json(["tune", str(_profile_with(tmp_path, "512MiB", "log_buf_len=1M"))])["guests"][0]
    removal = next(c for c in logbuf["candidates"] if c["option"] == "remove log_buf_len=1M")
    assert removal["totals_delta_kib"]["mem_total_kib"] == 4608
    assert "log_buf_len" not in logbuf["recommendation"]["cmdline"]


def test_readme_excerpt_is_the_real_output() -> None:
    """README "Tune the kernel command line" shows lines of `planner tune kvm-cloud-128mib`."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("$ planner tune kvm-cloud-128mib\n", 1)[1].split("\n$ ", 1)[0]
    shown = [
        line.rstrip() for line in block.splitlines() if line.strip() and not line.strip().startswith("...")
    ]
    shown = [line.removesuffix(" ...") for line in shown]
    result = runner.invoke(app, ["tune", "kvm-cloud-128mib"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert len(shown) > 10
    for line in shown:
        assert line.strip() in out, line


def test_a_packing_stopped_at_the_time_limit_is_noted() -> None:
    """HiGHS stops at its 10 s limit on the all-tuned 1 TiB example (gap 0.018 %): the count
    is then a feasible one, and the output says so (here a real plan, its status replaced)."""
    from planner.workflows.tune import _solver_notes

    result = tune("kvm-cloud-128mib")
    assert _solver_notes(result.baseline, list(result.kernels), result.combined) == []
    plan = dataclasses.replace(result.combined.plan, status="time_limit", gap=0.00018)
    stopped = dataclasses.replace(result.combined, plan=plan)
    assert _solver_notes(result.baseline, list(result.kernels), stopped) == [
        "kvm-cloud-128mib tuned: the solver stopped at its time limit (time_limit, gap 0.018%): a feasible "
        "count, possibly a few guests short of the best"
    ]

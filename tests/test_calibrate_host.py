"""Issue 14 item 6: ``planner calibrate-host`` fits the kvm-qemu model to measured qemu processes.

The fit is pure (:mod:`planner.hypervisors.calibrate`) and is pinned here on the overheads
reference/libvirt-recipes.md §3 measured (qemu 7.2 under libvirt 9.0, TCG, idle); the command
end to end on the real libvirtd lab is in tests/test_live_libvirtd.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner import api
from planner.cli import app
from planner.hypervisors.calibrate import OverheadSample, fit_overhead, process_overhead_kib
from planner.inputs.profiles import load_hypervisor_profile, write_hypervisor_profile
from planner.units import KIB_PER_MIB
from planner.workflows.calibrate_host import profile_yaml

MIB = KIB_PER_MIB
runner = CliRunner()
TCG = load_hypervisor_profile("qemu-tcg")

#: libvirt-recipes.md §3, "Via libvirt, one guest at a time" and "vCPUs": (guest MiB, vCPUs,
#: overhead RSS MiB) as the tables print them
REFERENCE = [
    (72, 1, 94.2),
    (128, 1, 94.2),
    (256, 1, 94.1),
    (512, 1, 94.3),
    (256, 2, 96.4),
    (256, 4, 101.3),
]


#: qemu's file pages (RssFile) in the reference's libvirt runs: libvirt-recipes.md §3, 23 MiB
FILE_MIB = 23


def _samples(rows: list[tuple[int, int, float]]) -> list[OverheadSample]:
    """The measured overhead is the RSS one less the file pages, which count once per host."""
    return [
        OverheadSample(
            "qemu:///system",
            f"g{i}-{mib}mib-{v}cpu",
            mib * MIB,
            v,
            round((over - FILE_MIB) * MIB),
            FILE_MIB * MIB,
        )
        for i, (mib, v, over) in enumerate(rows)
    ]


def test_the_reference_measurements_give_the_reference_profile() -> None:
    fit = fit_overhead(_samples(REFERENCE), TCG.params)
    assert fit.fitted == ("process_kib", "per_extra_vcpu_kib", "page_table_ram_divisor")
    assert fit.kept == {}
    # 94.2 MiB flat less the file pages, about 2.4 MiB per extra vCPU (the reference's own reading)
    assert fit.params.process_kib == pytest.approx((94.2 - FILE_MIB) * MIB, rel=0.01)
    assert fit.params.process_kib == pytest.approx(TCG.params.process_kib, rel=0.01)
    # the file pages: once per host, the largest RssFile measured
    assert fit.params.shared_file_kib == FILE_MIB * MIB == TCG.params.shared_file_kib
    assert fit.params.per_extra_vcpu_kib == pytest.approx(2.4 * MIB, rel=0.05)
    # flat in size: a per-MiB term far below the RAM/512 of the page-table rule
    assert fit.per_mib_kib is not None and 0 < fit.per_mib_kib < 1024 / 512
    assert fit.params.page_table_ram_divisor == round(1024 / fit.per_mib_kib)
    # the tables print 0.1 MiB: residuals within that
    assert all(abs(r) < 0.15 * MIB for r in fit.residual_kib)
    for s, p, r in zip(_samples(REFERENCE), fit.predicted_kib, fit.residual_kib, strict=True):
        assert p == process_overhead_kib(s.memory_kib, s.vcpu_count, fit.params)
        assert r == s.measured_kib - p
    # libvirtd's terms are not the qemu process's: always the base's
    assert (fit.params.per_guest_daemon_kib, fit.params.daemon_kib) == (
        TCG.params.per_guest_daemon_kib,
        TCG.params.daemon_kib,
    )


def test_only_what_the_domains_determine_is_fitted() -> None:
    one = fit_overhead(_samples(REFERENCE[1:2]), TCG.params)
    assert one.fitted == ("process_kib",)
    assert one.kept == {
        "per_extra_vcpu_kib": "the domains all have the same vCPU count",
        "page_table_ram_divisor": "the domains all have the same size",
    }
    # the base's other terms taken off: the one domain is met exactly
    assert (
        one.params.process_kib
        == round((94.2 - FILE_MIB) * MIB) - 128 * MIB // TCG.params.page_table_ram_divisor
    )
    assert one.residual_kib == (0,)

    sizes = fit_overhead(_samples(REFERENCE[:4]), TCG.params)  # one vCPU count
    assert sizes.fitted == ("process_kib", "page_table_ram_divisor")
    assert sizes.params.per_extra_vcpu_kib == TCG.params.per_extra_vcpu_kib

    together = fit_overhead(
        _samples([REFERENCE[1], REFERENCE[4]]), TCG.params
    )  # size and vCPUs move together
    assert together.fitted == ("process_kib", "per_extra_vcpu_kib")
    assert "cannot be told apart" in together.kept["page_table_ram_divisor"]


def test_a_term_that_fits_at_zero_or_below_keeps_the_base() -> None:
    shrinking = [(128, 1, 94.4), (256, 1, 94.2), (512, 1, 94.0)]  # overhead falls with size
    fit = fit_overhead(_samples(shrinking), TCG.params)
    assert fit.fitted == ("process_kib",)
    assert fit.kept["page_table_ram_divisor"].startswith("it fits at -")
    assert fit.params.page_table_ram_divisor == TCG.params.page_table_ram_divisor
    with pytest.raises(ValueError, match="below zero"):
        fit_overhead(_samples([(128, 1, 0.0)]), replace(TCG.params, page_table_ram_divisor=1))


def test_the_profile_written_reads_back_and_plans_a_host(tmp_path: Path) -> None:
    samples = _samples(REFERENCE)
    fit = fit_overhead(samples, TCG.params)
    text = profile_yaml("tcg-here", TCG, fit, samples, ["qemu:///system"], "2025-01-31")
    path = tmp_path / "tcg-here.yaml"
    written = write_hypervisor_profile(path, text)
    again = load_hypervisor_profile(str(path))
    assert written.params == again.params == fit.params
    assert again.sources["process_kib"].kind == "measured"
    assert (
        again.sources["shared_file_kib"].kind == "measured"
        and "RssFile" in again.sources["shared_file_kib"].source
    )
    assert (
        "planner calibrate-host qemu:///system on 2025-01-31: 6 domain(s)"
        in again.sources["process_kib"].source
    )
    assert again.sources["daemon_kib"].source.startswith("kept from qemu-tcg (libvirtd's own memory")
    assert again.sources["daemon_kib"].kind == TCG.sources["daemon_kib"].kind
    assert "residual_kib: " in text and "rms_residual_kib:" in text
    # usable as hypervisor: ./tcg-here.yaml in a host file, and listed among the fit's inputs
    host = tmp_path / "host.yaml"
    host.write_text(
        "host:\n  capacity: 1GiB\n  cpus: 2\n  hypervisor: ./tcg-here.yaml\n"
        "guests:\n  - profile: kvm-cloud-256mib\n"
    )
    result = api.fit(host)
    per = result.per_guest["kvm-cloud-256mib"]
    assert result.hypervisor == "tcg-here"
    # the guest runs under the host's profile, as the profile lists qemu-tcg's model
    assert per.host_overhead_kib == written.host_overhead_kib(256 * MIB, 1)
    assert any(f.path == str(path) and f.sha256 for f in result.input_files)


def test_nothing_is_written_from_a_bad_profile(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    with pytest.raises(Exception, match="page_table_ram_divisor"):
        write_hypervisor_profile(
            path,
            "name: x\ndescription: x\nmodel: kvm-qemu\nparameters:\n"
            + "".join(
                f"  {k}:\n    value: {0 if k == 'page_table_ram_divisor' else 1}\n"
                "    kind: measured\n    source: t\n"
                for k in TCG.sources
            ),
        )
    assert not path.exists() and not list(tmp_path.iterdir())


def test_the_test_driver_has_no_measured_overhead() -> None:
    result = runner.invoke(app, ["calibrate-host", "test:///default"])
    assert result.exit_code == 2
    assert result.stderr == (
        "planner: error: URI: no domain with a measured overhead "
        "(test:///default: the test driver runs no qemu process)\n"
    )


def test_a_base_of_another_model_is_refused_before_any_host_is_read() -> None:
    result = runner.invoke(app, ["calibrate-host", "qemu+tcp://127.0.0.1:1/system", "--base", "xen-pv"])
    assert result.exit_code == 2
    assert result.stderr == (
        "planner: error: --base: expected a profile of the kvm-qemu model (calibrate-host measures qemu "
        "processes); found 'xen-pv' of model xen-libxl\n"
    )
    result = runner.invoke(app, ["calibrate-host", "test:///default", "--base", "no-such"])
    assert result.exit_code == 2 and result.stderr.startswith("planner: error: --base: unknown hypervisor")

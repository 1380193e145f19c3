"""``planner calibrate-host``: a hypervisor profile fitted to the qemu processes a live host runs.

Each URI is read once, read-only (:func:`planner.live.snapshot`, as ``planner check`` reads
it); every running domain whose qemu process was measured from /proc (a local host) is a
sample; the kvm-qemu model's qemu-process terms are fitted to them
(:func:`planner.hypervisors.calibrate.fit_overhead`), the others kept from a base profile;
the profile is written (atomically, once it reads back as a valid profile) for
``hypervisor: ./that.yaml`` in a host file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import yaml

from planner import live
from planner.errors import InputError
from planner.hypervisors import HypervisorProfile
from planner.hypervisors.calibrate import OverheadFit, OverheadSample, fit_overhead
from planner.inputs.profiles import (
    hypervisor_profile_from_text,
    load_hypervisor_profile,
    write_hypervisor_profile,
)
from planner.live.records import HostSnapshot
from planner.results.calibrate_host import FittedDomain, FittedParameter, HostCalibrationResult
from planner.workflows.analyze import CHECK_HYPERVISOR_BY_DOMAIN_TYPE

#: what the measured overhead is, as each fitted parameter's source says it
MEASURED = (
    "process RSS - resident guest RAM - file pages + page tables "
    "(/proc/PID/smaps_rollup, smaps, status RssFile and VmPTE)"
)


def calibrate_host(
    uris: Sequence[str],
    *,
    base: str | None = None,
    output: str | Path | None = None,
    name: str | None = None,
) -> HostCalibrationResult:
    """Fit a kvm-qemu hypervisor profile to the qemu processes of live libvirt hosts.

    Parameters
    ----------
    uris
        libvirt URIs of hosts this machine runs (their qemu processes are read from /proc).
    base
        The profile whose values are kept for the terms the domains do not determine; default
        by the domains' type: ``kvm`` -> kvm-qemu, ``qemu`` (TCG) -> qemu-tcg.
    output
        Where to write the profile YAML; None: not written (it is in the result).
    name
        The profile's name; default ``BASE-HOSTNAME``.

    Raises
    ------
    InputError
        A malformed URI, a base of another model, or no domain with a measured overhead.
    LiveQueryError
        A host that cannot be read, or no libvirt-python.
    """
    for uri in uris:
        live.validate_uri(uri)
    chosen = _base_profile(base, "") if base is not None else None  # refused before any host is read
    live.load_libvirt()
    snaps = [live.snapshot(uri) for uri in uris]
    samples, types, skipped = _samples(snaps)
    domain_type = max(sorted(types), key=types.count)
    notes = []
    if len(set(types)) > 1:
        left = sum(1 for t in types if t != domain_type)
        notes.append(
            f"{left} domain(s) of another type than {domain_type!r} left out (their overhead differs)"
        )
    kept_samples = [(s, t) for s, t in zip(samples, types, strict=True) if t == domain_type]
    base_profile = chosen or _base_profile(None, domain_type)
    fit = _fit([s for s, _ in kept_samples], base_profile)
    date = datetime.now(UTC).date().isoformat()
    hostnames = [s.hostname or s.uri for s in snaps]
    profile_name = name or _slug(f"{base_profile.name}-{hostnames[0]}")
    text = profile_yaml(profile_name, base_profile, fit, [s for s, _ in kept_samples], uris, date)
    profile = (
        write_hypervisor_profile(output, text)
        if output is not None
        else hypervisor_profile_from_text(text, f"<profile {profile_name}>")
    )
    return _result(profile, base_profile, fit, kept_samples, skipped, uris, date, text, output, notes)


def _samples(
    snaps: Sequence[HostSnapshot],
) -> tuple[list[OverheadSample], list[str], list[tuple[str, str]]]:
    """(measured domains, their ``<domain type=>``, (domain, why) for the others);
    an :class:`InputError` when no domain was measured."""
    samples: list[OverheadSample] = []
    types: list[str] = []
    skipped: list[tuple[str, str]] = []
    reasons: list[str] = []
    for snap in snaps:
        for dom in snap.domains:
            if dom.process is not None and dom.active:
                samples.append(
                    OverheadSample(
                        snap.uri,
                        dom.name,
                        dom.config.max_memory_kib,
                        dom.config.vcpu_count,
                        dom.process.host_overhead_kib,
                        dom.process.file_rss_kib,
                    )
                )
                types.append(dom.config.domain_type)
                continue
            if dom.process_note is not None or not dom.active:
                skipped.append((dom.name, dom.process_note or f"not running ({dom.state})"))
        if snap.driver.upper() == "TEST":
            reasons.append(f"{snap.uri}: the test driver runs no qemu process")
        elif not snap.local:
            reasons.append(f"{snap.uri}: not this machine (qemu processes are read from the local /proc)")
        elif not any(d.active for d in snap.domains):
            reasons.append(f"{snap.uri}: no running domain")
    if not samples:
        detail = "; ".join(reasons + [f"{n}: {w}" for n, w in skipped[:3]]) or "nothing measured"
        raise InputError(f"no domain with a measured overhead ({detail})", field="URI")
    return samples, types, skipped


def _base_profile(base: str | None, domain_type: str) -> HypervisorProfile:
    try:
        profile = load_hypervisor_profile(
            base or CHECK_HYPERVISOR_BY_DOMAIN_TYPE.get(domain_type, "kvm-qemu")
        )
    except InputError as err:
        raise err.located(field="--base") from None
    if profile.model != "kvm-qemu":
        raise InputError(
            f"expected a profile of the kvm-qemu model (calibrate-host measures qemu processes); "
            f"found {profile.name!r} of model {profile.model}",
            field="--base",
        )
    return profile


def _fit(samples: Sequence[OverheadSample], base: HypervisorProfile) -> OverheadFit:
    try:
        return fit_overhead(samples, base.params)
    except ValueError as err:
        raise InputError(
            f"the measured overheads do not fit the kvm-qemu model: {err}", field="URI"
        ) from None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "measured"


def _parameters(
    base: HypervisorProfile,
    fit: OverheadFit,
    samples: Sequence[OverheadSample],
    uris: Sequence[str],
    date: str,
) -> dict[str, FittedParameter]:
    """Each parameter of the profile: fitted (kind measured, its source the hosts, date and
    domains) or the base's (its kind and source, and why it was kept)."""
    domains = ", ".join(f"{s.name} ({s.memory_kib // 1024} MiB, {s.vcpu_count} vCPU)" for s in samples)
    where = f"planner calibrate-host {' '.join(uris)} on {date}: {len(samples)} domain(s) [{domains}]"
    what = {
        "process_kib": "the fixed term (1 vCPU, no RAM)",
        "per_extra_vcpu_kib": "the per-vCPU term",
        "page_table_ram_divisor": (
            f"the per-MiB term ({fit.per_mib_kib:.2f} KiB per MiB of guest RAM; divisor = 1024 / that)"
            if fit.per_mib_kib is not None
            else ""
        ),
    }
    out = {}
    for key, source in base.sources.items():
        value = int(asdict(fit.params)[key])
        if key == "shared_file_kib":
            continue
        if key in fit.fitted:
            text = f"{where}; least squares of the overhead measured as {MEASURED}: {what[key]}"
            out[key] = FittedParameter(value, "measured", text, True)
        else:
            why = fit.kept.get(key, "libvirtd's own memory, outside the qemu process measured")
            out[key] = FittedParameter(
                value, source.kind, f"kept from {base.name} ({why}): {source.source}", False
            )
    out["shared_file_kib"] = FittedParameter(
        fit.params.shared_file_kib,
        "measured",
        f"{where}; the largest RssFile (/proc/PID/status: qemu's binary and libraries in the page "
        "cache), resident once per host however many qemu processes map it",
        True,
    )
    return out


def profile_yaml(
    name: str,
    base: HypervisorProfile,
    fit: OverheadFit,
    samples: Sequence[OverheadSample],
    uris: Sequence[str],
    date: str,
) -> str:
    """The hypervisor profile's YAML: parameters with their sources, and the fit with the
    residual of each domain."""
    params = _parameters(base, fit, samples, uris, date)
    doc = {
        "name": name,
        "description": (
            f"{base.description.split(';')[0]}; qemu overhead measured on {len(samples)} domain(s) "
            f"by planner calibrate-host on {date}"
        ),
        "model": base.model,
        "parameters": {k: {"value": p.value, "kind": p.kind, "source": p.source} for k, p in params.items()},
        "fit": {
            "command": f"planner calibrate-host {' '.join(uris)}",
            "date": date,
            "base": base.name,
            "fitted": list(fit.fitted),
            "kept": dict(fit.kept),
            "rms_residual_kib": round(fit.rms_residual_kib, 1),
            "domains": [
                {
                    "uri": s.uri,
                    "name": s.name,
                    "memory_kib": s.memory_kib,
                    "vcpus": s.vcpu_count,
                    "measured_kib": s.measured_kib,
                    "predicted_kib": p,
                    "residual_kib": r,
                }
                for s, p, r in zip(samples, fit.predicted_kib, fit.residual_kib, strict=True)
            ],
        },
    }
    header = (
        f"# Hypervisor profile {name}: made by planner calibrate-host from the qemu processes of\n"
        f"# {', '.join(uris)} on {date}. Use it in a host file as hypervisor: ./<this file>.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _result(
    profile: HypervisorProfile,
    base: HypervisorProfile,
    fit: OverheadFit,
    samples: Sequence[tuple[OverheadSample, str]],
    skipped: Sequence[tuple[str, str]],
    uris: Sequence[str],
    date: str,
    text: str,
    output: str | Path | None,
    notes: Sequence[str],
) -> HostCalibrationResult:
    params = _parameters(base, fit, [s for s, _ in samples], uris, date)
    domains = tuple(
        FittedDomain(s.uri, s.name, t, s.memory_kib, s.vcpu_count, s.measured_kib, p)
        for (s, t), p in zip(samples, fit.predicted_kib, strict=True)
    )
    if len(samples) == len(fit.fitted):
        notes = [*notes, "as many domains as fitted terms: the fit is exact, its residuals say nothing"]
    return HostCalibrationResult(
        uris=tuple(uris),
        name=profile.name,
        base=base.name,
        base_parameters={k: int(v) for k, v in asdict(base.params).items()},
        date=date,
        parameters=params,
        kept=dict(fit.kept),
        domains=domains,
        skipped=tuple(skipped),
        rms_residual_kib=fit.rms_residual_kib,
        per_mib_kib=fit.per_mib_kib,
        profile_yaml=text,
        output=str(output) if output is not None else None,
        notes=tuple(notes),
    )

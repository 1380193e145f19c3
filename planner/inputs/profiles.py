"""Guest and hypervisor profiles: found by name (shipped in the package) or by path.

Profiles ship inside the package (``planner.profiles``, mapped from ``profiles/`` in
``pyproject.toml``) and are read with ``importlib.resources``; a profile name may also be a
path to a YAML file, taken from the directory of the file that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from planner import data_dir
from planner.errors import InputError
from planner.files import write_atomic
from planner.hypervisors import HypervisorProfile, ParameterSource, build_params
from planner.inputs.schema import GuestProfileModel, HypervisorProfileModel, WorkloadModel, validate
from planner.inputs.specs import GuestProfile, Origin, Workload
from planner.inputs.yaml import dotted, line_of, load_yaml, read_text_file


def _profile_dir(kind: str) -> Path:
    return data_dir("profiles") / kind


def list_profile_names(kind: Literal["guests", "hypervisors"]) -> list[str]:
    """Names of the profiles of one kind shipped with the planner, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _profile_dir(kind).iterdir()
        if entry.name.endswith(".yaml")
    )


def is_path_name(name: str) -> bool:
    """A profile or calibration named by a path (``my.yaml``, ``sub/x``) rather than by name."""
    return name.endswith((".yaml", ".yml")) or "/" in name


def beside(name: str, file: str | Path | None) -> str:
    """A relative path written in ``file``, taken from ``file``'s directory (as editors, YAML
    language servers and docker-compose resolve them); names and absolute paths unchanged."""
    if file is None or not is_path_name(name) or Path(name).is_absolute():
        return name
    return str(Path(file).parent / name)


def read_profile(
    kind: Literal["guests", "hypervisors"], name: str, named_in: str | None = None
) -> tuple[str, str]:
    """(file, text) of a profile given by name or path; a relative path named in the file
    ``named_in`` is taken from that file's directory."""
    what = "guest profile" if kind == "guests" else "hypervisor profile"
    if is_path_name(name):
        path = Path(beside(name, named_in))
        if not path.is_file():
            tried = (
                ""
                if str(path) == name
                else f" (looked for {str(path)!r}: a relative path is taken from the directory of {named_in})"
            )
            state = "a directory" if path.is_dir() else "no file"
            raise InputError(f"expected a profile YAML file; found {state} {name!r}{tried}")
        return str(path), read_text_file(path, what)
    entry = _profile_dir(kind) / f"{name}.yaml"
    if not entry.is_file():
        known = ", ".join(list_profile_names(kind))
        what = "guest profile" if kind == "guests" else "hypervisor"
        raise InputError(f"unknown {what} {name!r}; expected one of: {known}")
    return str(entry), read_text_file(entry, what)


def workload_spec(model: WorkloadModel | None, file: str, line: int | None) -> Workload | None:
    if model is None:
        return None
    return Workload(model.user_memory, model.threads, model.source, Origin(file, line))


def load_guest_profile(name: str, named_in: str | None = None) -> GuestProfile:
    """Read a guest profile by name (``profiles/guests/NAME.yaml``) or path (relative to the
    directory of the file ``named_in`` that names it, if any)."""
    file, text = read_profile("guests", name, named_in)
    data, lines = load_yaml(text, file)
    model: GuestProfileModel = validate(GuestProfileModel, data, lines, file)
    numbers = ["memory", "vcpus"] + [
        k for k in ("boot_footprint", "workload") if getattr(model, k) is not None
    ]
    for key in numbers:
        if key not in model.sources:
            raise InputError(
                f"expected a source for every number; found none for {key!r}",
                file=file,
                line=lines.get(("sources",), lines.get((key,))),
                field=f"sources.{key}",
            )
    if model.memory == "auto" and model.workload is None:
        raise InputError(
            "memory: auto needs a workload to size the guest for",
            file=file,
            line=lines.get(("memory",)),
            field="memory",
        )
    return GuestProfile(
        name=model.name,
        description=model.description,
        kernel=model.kernel,
        hypervisors=tuple(model.hypervisors),
        memory_kib=model.memory,
        vcpu_count=model.vcpus,
        machine=model.machine,
        cmdline=model.cmdline,
        boot_footprint_kib=model.boot_footprint,
        workload=workload_spec(model.workload, file, lines.get(("workload",))),
        sources=dict(model.sources),
        origin=Origin(file, 1),
        key_lines={str(k[0]): v for k, v in lines.items() if len(k) == 1},
    )


def load_hypervisor_profile(name: str, named_in: str | None = None) -> HypervisorProfile:
    """Read a hypervisor profile by name (``profiles/hypervisors/NAME.yaml``) or path (relative
    to the directory of the file ``named_in`` that names it, if any)."""
    file, text = read_profile("hypervisors", name, named_in)
    return hypervisor_profile_from_text(text, file)


def write_hypervisor_profile(path: str | Path, text: str) -> HypervisorProfile:
    """Write a hypervisor profile's YAML ``text`` to ``path`` atomically, once it reads back as
    a valid profile (as ``hypervisor: PATH`` in a host file will read it); the profile read."""
    profile = hypervisor_profile_from_text(text, str(path))
    write_atomic(path, text)
    return profile


def hypervisor_profile_from_text(text: str, file: str) -> HypervisorProfile:
    """A hypervisor profile from its YAML text; ``file`` names it in errors."""
    data, lines = load_yaml(text, file)
    model: HypervisorProfileModel = validate(HypervisorProfileModel, data, lines, file)
    try:
        params = build_params(model.model, {k: p.value for k, p in model.parameters.items()})
    except InputError as err:
        key = err.field or ""
        loc: tuple[str, ...] = ("model",) if key == "model" else ("parameters", key)
        raise InputError(
            err.message, file=file, line=line_of(lines, (*loc, "value")), field=dotted(loc)
        ) from None
    sources = {k: ParameterSource(kind=p.kind, source=p.source) for k, p in model.parameters.items()}
    return HypervisorProfile(
        name=model.name,
        description=model.description,
        model=model.model,
        params=params,
        sources=sources,
        path=file,
        measured_on_host=model.fit is not None,
    )


def describe_profiles(kind: Literal["guests", "hypervisors"]) -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped profile of one kind."""
    out = []
    for name in list_profile_names(kind):
        file, text = read_profile(kind, name)
        data, _ = load_yaml(text, file)
        description = data.get("description", "") if isinstance(data, dict) else ""
        out.append((name, str(description)))
    return out


def guest_hypervisor(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> HypervisorProfile | None:
    """The hypervisor profile a guest runs under on this host, or None if it cannot run there.

    The host's own profile if the guest lists it; else the first profile the guest lists that
    has the same model (a Xen host runs PV and HVM guests: ``xen-pv`` and ``xen-hvm`` share the
    ``xen-libxl`` model; the host's reserves still come from the host's profile). A host profile
    measured on the host itself (``planner calibrate-host``) stands for every guest of its model.
    """
    if host_hypervisor.name in profile.hypervisors:
        return host_hypervisor
    for name in profile.hypervisors:
        if name in list_profile_names("hypervisors"):
            candidate = load_hypervisor_profile(name)
            if candidate.model == host_hypervisor.model:
                return host_hypervisor if host_hypervisor.measured_on_host else candidate
    return None


def wrong_hypervisor_message(profile: GuestProfile, host_hypervisor: HypervisorProfile) -> str:
    """Why a guest profile cannot run under a host's hypervisor, and the shipped ones that can."""
    fitting = [
        name
        for name in list_profile_names("guests")
        if guest_hypervisor(load_guest_profile(name), host_hypervisor) is not None
    ]
    return (
        f"profile {profile.name!r} runs under {', '.join(profile.hypervisors)}; expected a profile for "
        f"{host_hypervisor.name} (one of: {', '.join(fitting) or 'none shipped'})"
    )

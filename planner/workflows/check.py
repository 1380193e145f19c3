"""``planner check``: live libvirt hosts, read-only, in parallel.

Each URI is read in its own thread (:func:`planner.live.snapshot`) while the host file and
the profiles are read here; each snapshot is then analysed (:mod:`.analyze`) into a
:class:`~planner.results.HostCheck`. A host that cannot be reached, refuses, or whose
analysis fails is reported with its error while the others complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from planner import live
from planner.capacity.sizing import GuestKernel, smallest_fitting_kib
from planner.errors import InfeasibleError, InputError, PlannerError
from planner.inputs.calibrations import load_calibration
from planner.inputs.hostfile import load_host_file
from planner.inputs.profiles import load_guest_profile, load_hypervisor_profile
from planner.inputs.specs import GuestProfile, HostSpec
from planner.inputs.yaml import source_name
from planner.results import CheckResult, HostCheck, InputFile
from planner.results.common import input_files
from planner.workflows.analyze import CheckProfile, CheckSettings, analyze_host, profile_hypervisor
from planner.workflows.guests import size_guest


def check(
    uris: Sequence[str],
    host_path: str | Path | None = None,
    profiles: Sequence[str] = (),
    *,
    timeout_s: float = 120.0,
) -> CheckResult:
    """Check live libvirt hosts, read-only, in parallel.

    Parameters
    ----------
    uris
        libvirt URIs (``qemu:///system``, ``qemu+ssh://host/system``,
        ``test:///abs/path/host.xml``).
    host_path
        A host file (``planner fit`` format): its host kernel, hypervisor, reserves and
        vCPU ratio are used, its guest profiles get headroom, and its node memory stands
        in when libvirt reports no NUMA cells (the test driver).
    profiles
        Guest profile names or files: how many more of each fit now.
    timeout_s
        A host that has not answered by then is reported as failed. [s]

    Raises
    ------
    InputError
        For an unreadable host file or an unknown profile.
    LiveQueryError
        When libvirt-python is not installed.
    """
    deadline = time.monotonic() + timeout_s
    valid: list[str] = []
    malformed: dict[int, HostCheck] = {}
    for i, uri in enumerate(uris):
        try:
            live.validate_uri(uri)
            valid.append(uri)
        except InputError as err:  # the message names the test-driver file, if that is at fault
            where = InputError(err.message, file=err.file, line=err.line)
            malformed[i] = HostCheck(uri=uri, error=str(where), bad_input=True)
    if valid:
        live.load_libvirt()  # one clear error when libvirt-python is missing
    # the hosts are read (in threads, libvirt releases the GIL) while the files are read here
    snapshots, threads = _start_snapshots(valid, timeout_s)
    settings = check_settings(host_path, profiles)
    if settings.profiles:
        import scipy.optimize  # noqa: F401 - warm the solver's import while the hosts answer
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    it = iter(snapshots)
    hosts = [
        malformed[i] if i in malformed else _analysed(uri, next(it), settings) for i, uri in enumerate(uris)
    ]
    guest_profiles = {p.name: p.profile for p in settings.profiles if p.profile is not None}
    return CheckResult(
        hosts=tuple(hosts),
        profiles=tuple(p.name for p in settings.profiles),
        host_file=source_name(host_path) if host_path is not None else None,
        requested_profiles=tuple(profiles),
        guest_profiles=guest_profiles,
        input_files=_input_files(uris, hosts, guest_profiles, host_path),
    )


def _analysed(uri: str, snap: live.HostSnapshot | str | InputError, settings: CheckSettings) -> HostCheck:
    """One host's check: its analysis, or the error that stopped its read or its analysis."""
    if isinstance(snap, InputError):
        return HostCheck(uri=uri, error=str(snap), bad_input=True)
    if isinstance(snap, str):
        return HostCheck(uri=uri, error=snap.removeprefix(f"{uri}: "))
    try:
        return analyze_host(snap, settings)
    except PlannerError as err:  # e.g. a model refusing this host's figures: this host only
        # a --profile this host's hypervisor cannot run is bad input (exit 2), as in fit
        wrong = isinstance(err, InputError) and err.field == "--profile"
        error = str(err) if wrong else f"cannot analyse the host: {err}"
        return HostCheck(uri=uri, error=error, bad_input=wrong)


def _start_snapshots(
    uris: Sequence[str], timeout_s: float
) -> tuple[list[live.HostSnapshot | str | InputError], list[threading.Thread]]:
    """One (daemon) thread per URI; each slot of the list ends as a snapshot or an error: a
    message, or an :class:`InputError` when libvirt's test driver refused the file it was given."""
    out: list[live.HostSnapshot | str | InputError] = [
        f"{u}: no answer within {timeout_s:.0f} s" for u in uris
    ]

    def run(i: int, uri: str) -> None:
        try:
            out[i] = live.snapshot(uri)
        except Exception as err:  # one host fails, not all
            out[i] = _read_error(uri, err)

    threads = [threading.Thread(target=run, args=(i, u), daemon=True) for i, u in enumerate(uris)]
    for t in threads:
        t.start()
    return out, threads


def _read_error(uri: str, err: Exception) -> str | InputError:
    """What a failed read says: a test-driver file libvirt refused is bad input naming the file
    (whatever the binding raised, a SystemError included); a planner error its message; anything
    else, data libvirt should never send, a planner bug."""
    path = live.driver_host_file(uri)
    said = str(err).removeprefix(f"{uri}: ") or type(err).__name__
    if path is not None:
        return InputError(f"expected a host file libvirt's test driver can read; found {said}", file=path)
    if isinstance(err, PlannerError):
        return str(err)
    return f"{uri}: unexpected {type(err).__name__} while reading the host: {err} (a planner bug)"


# --- settings -------------------------------------------------------------------------------------
def check_settings(host_path: str | Path | None, profiles: Sequence[str]) -> CheckSettings:
    """Read the host file and the profiles once, before any host is contacted."""
    host: HostSpec | None = None
    sized: list[CheckProfile] = []
    if host_path is not None:
        host_file = load_host_file(host_path)
        host = host_file.host
        for i, g in enumerate(host_file.guests):
            pg = size_guest(g, i, host_file)  # sizes memory: auto entries like planner fit
            sized.append(
                CheckProfile(
                    pg.name,
                    pg.guest_memory_kib,
                    pg.vcpu_count,
                    pg.hypervisor,
                    pg.hugepages,
                    pg.kernel,
                    calibration=g.calibration,
                    profile=g.profile,
                )
            )
    for name in profiles:
        try:
            profile = load_guest_profile(name)
        except InputError as err:
            raise err.located(field="--profile") from None
        if profile.name in {p.name for p in sized}:
            continue
        if host is not None:  # the host's hypervisor is known now: refuse a mix as fit does
            profile_hypervisor(profile, host.hypervisor)
        memory_kib = _auto_size_kib(profile) if profile.memory_kib == "auto" else profile.memory_kib
        sized.append(
            CheckProfile(
                profile.name, memory_kib, profile.vcpu_count, None, False, profile.kernel, profile=profile
            )
        )
    return CheckSettings(host=host, profiles=tuple(sized))


def _auto_size_kib(profile: GuestProfile) -> int:
    """The ``memory: auto`` size of a profile given by name, as ``planner fit`` sizes it."""
    assert profile.workload is not None  # the profile loader requires one with memory: auto
    try:
        calibration = load_calibration(profile.kernel)
        load_hypervisor_profile(profile.hypervisors[0])  # a profile for no known hypervisor is refused
    except InputError as err:
        raise err.located(file=profile.origin.file, field="kernel") from None
    guest = GuestKernel(calibration, profile.vcpu_count, profile.cmdline, profile.machine, profile.workload)
    found = smallest_fitting_kib(guest)
    if found is None:
        raise InfeasibleError(
            f"profile {profile.name!r}: its workload fits no size of {calibration.name}",
            file=profile.origin.file,
            field="workload",
        )
    return found


def _input_files(
    uris: Sequence[str],
    hosts: Sequence[HostCheck],
    guest_profiles: dict[str, GuestProfile],
    host_path: str | Path | None,
) -> tuple[InputFile, ...]:
    """The test-driver files, the host file, the kernel calibrations assumed, the guest and
    hypervisor profiles."""
    files: list[tuple[str, str | None]] = [("host file", source_name(host_path))] if host_path else []
    files += [("libvirt test-driver file", path) for path in map(live.driver_host_file, uris) if path]
    hypervisors: dict[str, str | None] = {}
    for h in hosts:
        for hv in h.hypervisor_profiles:
            hypervisors.setdefault(hv.name, hv.path)
        files += [(f"kernel calibration {cal.name}", cal.path) for cal in h.calibrations]
    files += [(f"guest profile {p.name}", p.origin.file) for p in guest_profiles.values()]
    files += [(f"hypervisor profile {name}", path) for name, path in hypervisors.items()]
    return input_files(files)

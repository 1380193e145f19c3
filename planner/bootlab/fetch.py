"""Fetch Debian packages (kernels, static busybox) into the planner's cache.

Packages are downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x``;
nothing is installed. A kernel metapackage (``linux-image-cloud-amd64``,
``linux-image-s390x:s390x``) is followed through its ``Depends`` to the real image
package (``linux-image-6.1.0-56-cloud-amd64``), and the resolved name and version are
recorded next to the unpacked tree.

Cache layout (``${PLANNER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/planner}``)::

    debs/<package>_<version>_<arch>.deb
    debian/<package>_<version>_<arch>/            # dpkg-deb -x tree
    debian/<package>_<version>_<arch>.json        # FetchedPackage record, written last

Foreign architectures (s390x on an amd64 host) need ``dpkg --add-architecture``; that
is a system change, made only when the caller allows it (``allow_system_changes``),
otherwise the error names the commands to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from planner.errors import InputError, PlannerError
from planner.files import write_atomic

#: kernels and busyboxes ``planner bootlab fetch`` caches (the shipped campaign's packages)
DEFAULT_KERNEL_PACKAGES = ("linux-image-cloud-amd64", "linux-image-amd64", "linux-image-s390x:s390x")
#: Debian architecture -> planner architecture name
DEB_ARCH_TO_ARCH = {"amd64": "x86_64", "s390x": "s390x"}
ARCH_TO_DEB_ARCH = {v: k for k, v in DEB_ARCH_TO_ARCH.items()}

_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$")


class FetchError(PlannerError):
    """A Debian package that could not be resolved, downloaded or unpacked."""


class PackageNotFoundError(InputError):
    """A package name apt does not know."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        super().__init__(
            f"expected a Debian package name; found {name!r}, which apt does not know ({detail}); "
            "check the name, or run `apt-get update`"
        )


@dataclass(frozen=True)
class FetchedPackage:
    """A Debian package unpacked into the cache.

    Attributes
    ----------
    requested
        The name asked for (``linux-image-s390x:s390x``).
    package
        The resolved package (``linux-image-6.1.0-50-s390x``).
    version
        Its Debian version (``6.1.176-1``).
    deb_arch
        Its Debian architecture (``amd64``, ``s390x``).
    root
        The ``dpkg-deb -x`` tree.
    deb_sha256
        sha256 of the downloaded ``.deb``.
    """

    requested: str
    package: str
    version: str
    deb_arch: str
    root: Path
    deb_sha256: str

    def to_json(self) -> dict[str, str]:
        out = asdict(self)
        out["root"] = str(self.root)
        return out


def cache_dir() -> Path:
    """``${PLANNER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/planner}``."""
    env = os.environ.get("PLANNER_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "planner"


def make_dir(path: Path, *, field: str) -> Path:
    """Create a directory (and its parents) the bootlab writes into, or say why it cannot.

    Raises
    ------
    InputError
        The directory cannot be created or is not writable (``field`` names the
        option or variable that chose it: ``--output``, ``PLANNER_CACHE``).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(
            f"expected a directory that can be created; mkdir failed: {err.strerror or err}",
            file=path,
            field=field,
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(
            "expected a writable directory; found one without write permission", file=path, field=field
        )
    return path


def looks_like_package(name: str) -> bool:
    """True for a Debian package name, optionally with ``:arch``."""
    return bool(_PACKAGE_RE.match(name))


def sha256_file(path: Path) -> str:
    """sha256 of a file, hex."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(argv: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FetchError(
            f"{argv[0]} not found: fetching Debian packages needs apt and dpkg (a Debian system)"
        ) from None


def _split_arch(name: str) -> tuple[str, str | None]:
    if ":" in name:
        pkg, arch = name.split(":", 1)
        return pkg, arch
    return name, None


def native_deb_arch() -> str:
    """``dpkg --print-architecture``."""
    return _run(["dpkg", "--print-architecture"]).stdout.strip()


def ensure_foreign_arch(deb_arch: str, *, allow_system_changes: bool) -> None:
    """Make sure dpkg knows ``deb_arch``; add it only when allowed.

    Raises
    ------
    FetchError
        When the architecture is missing and system changes are not allowed.
    """
    if deb_arch == native_deb_arch():
        return
    foreign = _run(["dpkg", "--print-foreign-architectures"]).stdout.split()
    if deb_arch in foreign:
        return
    commands = f"dpkg --add-architecture {deb_arch} && apt-get update"
    if not allow_system_changes:
        raise FetchError(
            f"Debian packages of architecture {deb_arch} need a system change: run `{commands}` as root "
            "(or ./setup.sh), or pass --allow-system-changes to let planner do it"
        )
    for argv in (["dpkg", "--add-architecture", deb_arch], ["apt-get", "update", "-q"]):
        proc = _run(argv)
        if proc.returncode != 0:
            raise FetchError(f"`{' '.join(argv)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")


def _show(name: str) -> dict[str, str]:
    """The candidate's control fields from ``apt-cache show --no-all-versions``."""
    proc = _run(["apt-cache", "show", "--no-all-versions", name])
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no candidate"
        raise PackageNotFoundError(name, detail)
    fields: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if not line.strip():
            break  # first stanza only
        if line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _kernel_dependency(depends: str) -> str | None:
    """The ``linux-image-<version>-<flavour>`` package a kernel metapackage depends on."""
    for alt in depends.split(","):
        pkg = alt.split("|")[0].strip().split(" ")[0]
        if re.match(r"^linux-image-\d", pkg) and not pkg.endswith("-dbg"):
            return pkg
    return None


def resolve(name: str) -> tuple[str, str, str]:
    """Resolve a (meta)package name to ``(package, version, deb_arch)`` of the candidate.

    A ``linux-image-<flavour>`` metapackage is followed to the ``linux-image-<abi>-<flavour>``
    package it depends on (``Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)``).
    """
    pkg, arch = _split_arch(name)
    fields = _show(name)
    deb_arch = fields.get("Architecture", arch or native_deb_arch())
    if deb_arch == "all":
        deb_arch = arch or native_deb_arch()
    if pkg.startswith("linux-image-") and not re.match(r"^linux-image-\d", pkg):
        dep = _kernel_dependency(fields.get("Depends", ""))
        if dep is None:
            raise FetchError(f"{name}: a linux-image metapackage without a linux-image-<version> dependency")
        return resolve(f"{dep}:{deb_arch}")
    return fields.get("Package", pkg), fields["Version"], deb_arch


def fetch_package(
    name: str, *, cache: Path | None = None, allow_system_changes: bool = False
) -> FetchedPackage:
    """Download and unpack one Debian package (following a kernel metapackage), cached.

    Parameters
    ----------
    name
        ``busybox-static``, ``busybox-static:s390x``, ``linux-image-cloud-amd64`` ...
    cache
        Cache directory; default :func:`cache_dir`.
    allow_system_changes
        Allow ``dpkg --add-architecture`` + ``apt-get update`` for a foreign architecture.
    """
    if not looks_like_package(name):
        raise InputError(f"expected a Debian package name such as linux-image-cloud-amd64; found {name!r}")
    cache = cache or cache_dir()
    _, arch = _split_arch(name)
    if arch is not None:
        ensure_foreign_arch(arch, allow_system_changes=allow_system_changes)
    package, version, deb_arch = resolve(name)
    stem = f"{package}_{version.replace(':', '%3a')}_{deb_arch}"
    record = cache / "debian" / f"{stem}.json"
    root = cache / "debian" / stem
    if record.is_file() and root.is_dir():
        data = json.loads(record.read_text())
        return FetchedPackage(
            requested=name,
            package=data["package"],
            version=data["version"],
            deb_arch=data["deb_arch"],
            root=root,
            deb_sha256=data["deb_sha256"],
        )
    debs = make_dir(cache / "debs", field="PLANNER_CACHE")
    make_dir(root.parent, field="PLANNER_CACHE")
    with tempfile.TemporaryDirectory(dir=debs, prefix=".download-") as tmp:
        spec = f"{package}:{deb_arch}={version}"
        proc = _run(["apt-get", "download", "-q", spec], cwd=Path(tmp))
        got = sorted(Path(tmp).glob("*.deb"))
        if proc.returncode != 0 or len(got) != 1:
            err = proc.stderr.strip().splitlines()
            raise FetchError(
                f"`apt-get download {spec}` failed: {err[-1] if err else 'no .deb'}; "
                "try `apt-get update` (an outdated package list points at removed versions)"
            )
        deb = debs / f"{stem}.deb"
        os.replace(got[0], deb)
    deb_sha256 = sha256_file(deb)
    if not root.is_dir():  # appears only by an atomic rename of a complete extraction
        with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{stem}-") as tmp:
            tree = Path(tmp) / "tree"
            proc = _run(["dpkg-deb", "-x", str(deb), str(tree)])
            if proc.returncode != 0:
                raise FetchError(f"`dpkg-deb -x {deb}` failed: {proc.stderr.strip()}")
            try:
                os.replace(tree, root)
            except OSError:
                if not root.is_dir():  # not another process that got there first
                    raise
    fetched = FetchedPackage(
        requested=name, package=package, version=version, deb_arch=deb_arch, root=root, deb_sha256=deb_sha256
    )
    write_atomic(record, json.dumps(fetched.to_json(), indent=2, sort_keys=True) + "\n")
    return fetched


def kernel_in_package(pkg: FetchedPackage) -> Path:
    """The ``boot/vmlinuz-*`` of an unpacked linux-image package."""
    found = sorted((pkg.root / "boot").glob("vmlinuz-*"))
    if len(found) != 1:
        raise FetchError(
            f"{pkg.package} {pkg.version}: expected one boot/vmlinuz-* in the package; found {len(found)}"
        )
    return found[0]


def busybox_in_package(pkg: FetchedPackage) -> Path:
    """The static ``bin/busybox`` of an unpacked busybox-static package."""
    path = pkg.root / "bin" / "busybox"
    if not path.is_file():
        raise FetchError(f"{pkg.package} {pkg.version}: no bin/busybox in the package")
    return path


def fetch_busybox(
    arch: str, *, cache: Path | None = None, allow_system_changes: bool = False
) -> tuple[Path, FetchedPackage]:
    """Fetch Debian ``busybox-static`` of a planner architecture (``x86_64``, ``s390x``)."""
    deb_arch = ARCH_TO_DEB_ARCH[arch]
    name = "busybox-static" if deb_arch == native_deb_arch() else f"busybox-static:{deb_arch}"
    pkg = fetch_package(name, cache=cache, allow_system_changes=allow_system_changes)
    return busybox_in_package(pkg), pkg


def fetch_all(*, cache: Path | None = None, allow_system_changes: bool = False) -> list[FetchedPackage]:
    """Fetch the three shipped kernels and both busyboxes (what ``planner bootlab fetch`` does)."""
    out = [
        fetch_package(name, cache=cache, allow_system_changes=allow_system_changes)
        for name in DEFAULT_KERNEL_PACKAGES
    ]
    for arch in ("x86_64", "s390x"):
        out.append(fetch_busybox(arch, cache=cache, allow_system_changes=allow_system_changes)[1])
    return out

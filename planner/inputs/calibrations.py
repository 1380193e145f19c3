"""Kernel calibration files: found by name or path, read once per process, written atomically.

A calibration is data (``profiles/kernels/NAME.yaml``, or what ``planner calibrate -o`` and
``planner bootlab --calibrate`` write); :func:`planner.kernel.calibration.calibration_from_dict`
validates it into the frozen :class:`~planner.kernel.calibration.Calibration`. Calibrations
are frozen, so each file is parsed once per process (while it is unchanged): a host file
names the same few, and ``planner check`` uses them for every host.
"""

from __future__ import annotations

import functools
from pathlib import Path

from planner import data_dir
from planner.errors import InputError, PlannerError
from planner.files import Inputs, Output, write_outputs
from planner.inputs.yaml import MAX_CALIBRATION_BYTES, dump, load_plain, read_text_file
from planner.kernel.calibration import Calibration, calibration_from_dict

#: where ``planner bootlab --calibrate NAME`` writes, relative to the working directory
LOCAL_KERNELS_DIR = Path("profiles") / "kernels"


def _shipped_dir() -> Path:
    return data_dir("profiles") / "kernels"


def _search_dirs() -> list[Path]:
    """Calibration directories by precedence: ./profiles/kernels, then the shipped ones."""
    out: list[Path] = []
    for d in (LOCAL_KERNELS_DIR, _shipped_dir()):
        if d.is_dir() and not any(d.resolve() == o.resolve() for o in out):
            out.append(d)
    return out


def list_calibrations() -> list[tuple[str, str]]:
    """Calibrations found by name: (name, one-line description), sorted by name.

    ``./profiles/kernels/*.yaml`` (what ``planner bootlab --calibrate`` writes) comes
    before the calibrations shipped with the package.
    """
    seen: dict[str, str] = {}
    for directory in _search_dirs():
        for path in sorted(directory.glob("*.yaml")):
            try:
                cal = load_calibration(str(path))
            except InputError:
                continue
            seen.setdefault(cal.name, cal.description)
    return sorted(seen.items())


def calibration_path(name_or_path: str) -> Path:
    """The file of a calibration given by name (``./profiles/kernels/NAME.yaml``, then the
    shipped ``profiles/kernels/NAME.yaml``) or by path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    found = [d / f"{name_or_path}.yaml" for d in _search_dirs() if (d / f"{name_or_path}.yaml").is_file()]
    if not found:
        names = sorted({p.stem for d in _search_dirs() for p in d.glob("*.yaml")})
        raise InputError(
            f"expected a kernel calibration name ({', '.join(names) or 'none found'}) "
            f"or a calibration file; found {name_or_path!r}",
            field="kernel",
        )
    return found[0]


def load_calibration(name_or_path: str) -> Calibration:
    """Load a calibration by name or path (:func:`calibration_path`); each file is parsed once
    per process while its size and modification time stay the same."""
    path = calibration_path(name_or_path)
    try:
        stat = path.stat()
    except OSError as err:
        raise InputError(
            f"expected a readable calibration file; found {err.strerror or err}", file=path
        ) from None
    return _load_file(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _load_file(path: str, mtime_ns: int, size_bytes: int) -> Calibration:
    """One calibration file, parsed (the cache key holds its modification time and size)."""
    text = read_text_file(path, "calibration file", max_bytes=MAX_CALIBRATION_BYTES)
    return calibration_from_dict(load_plain(text, path), path)


def save_calibration(
    calibration: Calibration, path: str | Path, *, inputs: Inputs = (), option: str = "--output"
) -> Path:
    """Write a calibration as YAML under the output rule (:mod:`planner.files`: a regular file
    or a new name in an existing directory, never one of ``inputs``), atomically.

    Raises
    ------
    InputError
        A target the rule refuses (naming ``option``).
    PlannerError
        A file that cannot be written (permissions, disk full).
    """
    header = f"# planner kernel calibration {calibration.name} (written by planner calibrate)\n"
    out = Output(Path(path), header + dump(calibration.to_dict()), option, "the calibration")
    try:
        write_outputs([out], inputs=inputs)
    except OSError as err:
        raise PlannerError(f"could not write {path}: {err.strerror or err}") from None
    return out.path

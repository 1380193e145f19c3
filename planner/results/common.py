"""Parts every result shares: the input files it was computed from."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from planner.files import sha256_of
from planner.inputs.yaml import STDIN_NAME


@dataclass(frozen=True)
class InputFile:
    """One file a result was computed from, with the sha256 of its bytes when the result was made."""

    role: str  #: ``host file``, ``guest profile NAME``, ``kernel calibration NAME`` ...
    path: str
    sha256: str | None  #: None when the file could not be read again (standard input)


def input_files(files: Iterable[tuple[str, str | None]]) -> tuple[InputFile, ...]:
    """(role, path) pairs as :class:`InputFile`, each path once (the first role given wins),
    files with no path (a profile that is not a file) left out."""
    out: list[InputFile] = []
    seen: set[str] = set()
    for role, path in files:
        if path is None or str(path) in seen:
            continue
        seen.add(str(path))
        out.append(InputFile(role, str(path), None if path == STDIN_NAME else sha256_of(path)))
    return tuple(out)


def whole(value: float) -> int | float:
    """A float that is a whole number as an int (``vcpu_capacity: 128``, not ``128.0``)."""
    return int(value) if math.isfinite(value) and value == int(value) else value

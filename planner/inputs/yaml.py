"""YAML with lines: the only module that parses YAML (host files, profiles, calibrations).

:func:`load_yaml` records the 1-based line of every key (for located errors) and refuses
duplicate keys; :func:`load_plain` reads the planner's own calibration files, which are large
and need no line map, with libyaml's C loader when it is there; :func:`dump` writes them.
:func:`read_text_file` reads a file as UTF-8 with one located error for every way it can fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError

LineMap = dict[tuple[str | int, ...], int]
_FAST_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- YAML with lines ------------------------------------------------------------------------------
def _walk(node: yaml.Node, path: tuple[str | int, ...], lines: LineMap, file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise InputError(
                    f"duplicate key {key!r}; expected each key once (first at line {seen[key]})",
                    file=file,
                    line=line,
                    field=dotted((*path, key)),
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file)


def load_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse YAML text; return the data and a map from key path to 1-based line.

    Raises
    ------
    InputError
        For a syntax error (with its line) or a duplicate key (with the line of the second one).
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: LineMap = {}
        _walk(node, (), lines, file)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        raise InputError(
            f"YAML syntax error: {problem}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except yaml.YAMLError as err:
        raise InputError(f"YAML error: {err}", file=file) from None
    finally:
        loader.dispose()


def dotted(loc: Sequence[str | int]) -> str:
    """A key path as written in messages: ``guests[0].memory``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: LineMap, loc: Sequence[str | int]) -> int | None:
    """The line of ``loc``, or of its nearest parent that has one."""
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file, or an :class:`InputError` naming the file.

    A file that cannot be read says why (``expected a readable host file; found No such file
    or directory``); one that is not UTF-8 (Latin-1, a binary file) names the line of the first
    byte that is not: YAML 1.2 streams are Unicode (yaml.org/spec/1.2.2 §5.2).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"expected a readable {what}; found {err.strerror or err}", file=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"expected a {what} in UTF-8; found byte 0x{data[err.start]:02x}, which is not UTF-8 "
            "(a binary file, or text saved as Latin-1?)",
            file=path,
            line=data.count(b"\n", 0, err.start) + 1,
        ) from None


def load_plain(text: str, file: str | Path) -> Any:
    """Parse YAML without a line map (``SafeLoader``, in C when libyaml is there).

    Raises
    ------
    InputError
        For a syntax error, with its line.
    """
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # safe: SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(
            f"expected valid YAML; {getattr(err, 'problem', err)}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None


def dump(data: Any) -> str:
    """Plain data as block YAML, keys in the order given."""
    return str(yaml.safe_dump(data, sort_keys=False, width=120))

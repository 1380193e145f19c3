"""YAML with lines and limits: the only module that reads YAML (host files, profiles, calibrations).

:func:`read_text_file` reads a file (or standard input, ``-``) as UTF-8, at most a size cap,
with one located error for every way it can fail; :func:`load_yaml` parses it, records the
1-based line of every key (for located errors) and refuses duplicate keys; :func:`load_plain`
parses the planner's own calibration files, which need no line map; :func:`dump` writes them.

Limits (issue 11: a 342-byte alias bomb took 6.6 GiB, a 5,000-deep list a RecursionError,
``/dev/zero`` all the memory there was), each refused with one line naming the file and line:

- size: a host file or profile is at most :data:`MAX_FILE_BYTES` (1 MiB; the shipped ones are
  under 2 KiB), a calibration at most :data:`MAX_CALIBRATION_BYTES` (4 MiB; the biggest shipped,
  ``debian12-amd64`` from 51 boots, is 35 KB); at most the cap + 1 bytes is ever read, and only
  from a regular file or standard input (a FIFO, a device, a directory is refused unread);
- nesting: at most :data:`MAX_DEPTH` levels of lists and mappings, aliases expanded (the
  deepest shipped file has 5);
- aliases: at most :data:`MAX_ALIAS_NODES` nodes produced through aliases in one document
  ("billion laughs" expands 9 aliases of 9 aliases ... into 9**9 strings), and no alias inside
  its own anchor (a recursive list).

The scanner and parser are libyaml's (``yaml.CParser``) when it is installed, the composer is
PyYAML's own with the limits above, the constructor ``SafeConstructor`` (no Python objects).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.resolver import Resolver

from planner.errors import InputError
from planner.files import read_regular_file, refuse_oversize

LineMap = dict[tuple[str | int, ...], int]

#: the largest host file or profile read [bytes]
MAX_FILE_BYTES = 1024 * 1024
#: the largest calibration file read [bytes]
MAX_CALIBRATION_BYTES = 4 * 1024 * 1024
#: the deepest nesting of lists and mappings accepted, aliases expanded
MAX_DEPTH = 64
#: the most nodes one document may produce through aliases
MAX_ALIAS_NODES = 10_000
#: the path that means standard input, and how messages name it
STDIN = "-"
STDIN_NAME = "<stdin>"


# --- reading --------------------------------------------------------------------------------------
def source_name(path: str | Path) -> str:
    """How messages and results name an input: ``<stdin>`` for ``-``, else the path as given."""
    return STDIN_NAME if str(path) == STDIN else str(path)


def _read_capped(path: str | Path, what: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` bytes of a regular file, or of standard input for ``-``."""
    if str(path) != STDIN:
        return read_regular_file(path, what=what, max_bytes=max_bytes)
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError(f"expected a {what} on standard input; found none", file=STDIN_NAME)
    data: bytes = stream.read(max_bytes + 1)
    return refuse_oversize(data, what=what, max_bytes=max_bytes, file=STDIN_NAME)


def read_text_file(path: str | Path, what: str, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a UTF-8 file (``-``: standard input), or an :class:`InputError` naming it.

    A file that cannot be read says why (``expected a readable host file; found No such file
    or directory``); one that is not a regular file (``/dev/zero``, a FIFO) or is larger than
    ``max_bytes`` is refused after reading at most ``max_bytes + 1`` bytes; one that is not
    UTF-8 (Latin-1, a binary file) names the line of the first byte that is not: YAML 1.2
    streams are Unicode (yaml.org/spec/1.2.2 §5.2).
    """
    data = _read_capped(path, what, max_bytes)
    name = source_name(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"expected a {what} in UTF-8; found byte 0x{data[err.start]:02x}, which is not UTF-8 "
            "(a binary file, or text saved as Latin-1?)",
            file=name,
            line=data.count(b"\n", 0, err.start) + 1,
        ) from None


# --- the loader -----------------------------------------------------------------------------------
class _LimitedComposer(Composer):
    """PyYAML's composer with the module's limits on nesting and aliases.

    ``_reach`` is the deepest level reached so far, aliases counted at the depth of what they
    stand for; each anchored node's (expanded size, height) is kept for the aliases to it.
    """

    if TYPE_CHECKING:  # the parser's, mixed in beside this class

        def peek_event(self) -> Any: ...

        def check_event(self, *choices: Any) -> bool: ...

    def _limit(self, file: str) -> None:
        self._file = file
        self._depth = 0
        self._reach = 0
        self._expanded = 0
        self._via_aliases = 0
        self._open_anchors: set[str] = set()
        self._anchored: dict[int, tuple[int, int]] = {}

    def _refuse(self, message: str, mark: Any) -> InputError:
        return InputError(message, file=self._file, line=mark.line + 1 if mark is not None else None)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if self.check_event(AliasEvent):
            return self._compose_alias(event, parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(
                f"expected lists and mappings nested at most {MAX_DEPTH} deep; found deeper nesting",
                event.start_mark,
            )
        anchor = event.anchor
        if anchor is not None:
            self._open_anchors.add(anchor)
        start, reach, self._reach = self._expanded, self._reach, self._depth
        self._expanded += 1
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open_anchors.discard(anchor)
            self._anchored[id(node)] = (self._expanded - start, self._reach - self._depth)
        self._reach = max(reach, self._reach)
        self._depth -= 1
        return node

    def _compose_alias(self, event: Any, parent: Any, index: Any) -> Any:
        if event.anchor in self._open_anchors:
            raise self._refuse(
                f"expected an alias to a finished anchor; found the recursive alias *{event.anchor} "
                f"inside &{event.anchor} itself",
                event.start_mark,
            )
        node = super().compose_node(parent, index)  # PyYAML refuses an undefined alias
        size, height = self._anchored.get(id(node), (1, 0))
        self._expanded += size
        self._via_aliases += size
        if self._via_aliases > MAX_ALIAS_NODES:
            raise self._refuse(
                f"expected aliases that expand to at most {MAX_ALIAS_NODES:,} nodes; found more "
                f"by *{event.anchor} (an alias bomb?)",
                event.start_mark,
            )
        if self._depth + 1 + height > MAX_DEPTH:
            raise self._refuse(
                f"expected lists and mappings nested at most {MAX_DEPTH} deep; found deeper nesting "
                f"through the alias *{event.anchor}",
                event.start_mark,
            )
        self._reach = max(self._reach, self._depth + 1 + height)
        return node


_Parser: Any = getattr(yaml, "CParser", None)  # libyaml's scanner and parser, when installed


if _Parser is not None:

    class _Loader(_LimitedComposer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc]
        """libyaml's parser, the limited composer, the safe constructor."""

        def __init__(self, text: str, file: str) -> None:
            _Parser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._limit(file)

else:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(Reader, Scanner, Parser, _LimitedComposer, SafeConstructor, Resolver):  # type: ignore[no-redef]
        """PyYAML's own parser (slower), the limited composer, the safe constructor."""

        def __init__(self, text: str, file: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._limit(file)


def _syntax_error(err: yaml.YAMLError, file: str, prefix: str) -> InputError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        return InputError(f"{prefix}{problem}", file=file, line=mark.line + 1 if mark is not None else None)
    return InputError(f"YAML error: {err}", file=file)


def _compose(text: str, file: str) -> tuple[_Loader, Any]:
    loader = _Loader(text, file)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


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
    """Parse YAML text within the module's limits; return the data and a map from key path to
    1-based line.

    Raises
    ------
    InputError
        For a syntax error (with its line), a duplicate key (with the line of the second one),
        nesting too deep or aliases that expand too far (with the line where it happened).
    """
    try:
        loader, node = _compose(text, file)
    except yaml.YAMLError as err:
        raise _syntax_error(err, file, "YAML syntax error: ") from None
    try:
        if node is None:
            return None, {}
        lines: LineMap = {}
        _walk(node, (), lines, file)
        return loader.construct_document(node), lines
    except yaml.YAMLError as err:
        raise _syntax_error(err, file, "YAML syntax error: ") from None
    finally:
        loader.dispose()


def load_plain(text: str, file: str | Path) -> Any:
    """Parse YAML within the module's limits, without a line map (calibration files).

    Raises
    ------
    InputError
        For a syntax error, with its line, and for the limits as :func:`load_yaml`.
    """
    try:
        loader, node = _compose(text, str(file))
    except yaml.YAMLError as err:
        raise _syntax_error(err, str(file), "expected valid YAML; ") from None
    try:
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        raise _syntax_error(err, str(file), "expected valid YAML; ") from None
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


def dump(data: Any) -> str:
    """Plain data as block YAML, keys in the order given."""
    return str(yaml.safe_dump(data, sort_keys=False, width=120))

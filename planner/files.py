"""Files: the one rule for every file the planner writes, atomic writes, the sha256 of what was read.

Every output (``--html``, each ``--csv`` table, ``calibrate -o``, a calibration ``bootlab``
writes) follows one rule (issue 11), checked while the options are read and again right
before writing:

- a path that exists must be a regular file: a FIFO, a device (``/dev/full``), a socket or
  a directory is refused and left alone;
- a symlink is refused (an output never follows a link out of where it was named), even one
  that dangles;
- the directory it goes into must exist: nothing is created on the way (``--csv DIR`` creates
  ``DIR`` itself, in a directory that exists);
- it must not be a file the command read (same device and inode: a hard link or another
  spelling of the host file, a profile, a calibration, a boot log or its manifest);
- it is written to a temporary file in the same directory and renamed into place, so a
  reader sees the old file or the whole new one; a set of files (the CSV tables) is written
  in full to temporary files before the first is renamed, so an error leaves none of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from planner.errors import InputError

#: (role, path) of each file a command read: ``("host file", "h.yaml")``
Inputs = Sequence[tuple[str, str | Path]]

#: file types an output may not replace, as messages name them
_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class Output:
    """One file a command writes: where, what goes in it, the option that named it, and how
    messages call it (``the HTML report``)."""

    path: Path
    data: str | bytes
    option: str
    what: str


@dataclass(frozen=True)
class OutputDir:
    """A directory a command creates for its outputs when it is missing (``--csv DIR``)."""

    path: Path
    option: str
    what: str


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _cannot_create_in(directory: Path) -> str | None:
    """Why no file can be created in ``directory`` (None when one can): a real probe, since
    permission bits say nothing for root, /proc or a read-only mount."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".planner-probe.", dir=directory)
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(probe)
    return None


def _refuse_link_or_special(path: Path, st: os.stat_result, option: str, what: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        try:
            target = f" -> {os.readlink(path)}"
        except OSError:
            target = ""
        raise InputError(
            f"expected a new file name or a regular file for {what}; found the symlink {path}{target} "
            "(an output never follows a symlink)",
            field=option,
        )
    kind = _SPECIAL.get(stat.S_IFMT(st.st_mode))
    if kind is not None:
        raise InputError(
            f"expected a new file name or a regular file for {what}; found {kind} {path} (left alone)",
            field=option,
        )


def _refuse_input(path: Path, st: os.stat_result, option: str, inputs: Inputs) -> None:
    """Refuse ``path`` when it is (the same inode as) a file the command read."""
    for role, input_path in inputs:
        try:
            other = os.stat(input_path)
        except OSError:
            continue  # standard input, or a file gone since
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            same = "" if str(input_path) == str(path) else f" {input_path}"
            raise InputError(
                f"expected a file that is not an input of this command; found {path}, which is "
                f"the {role}{same} it reads (left alone)",
                field=option,
            )


def _require_directory(parent: Path, option: str, what: str) -> None:
    if not parent.is_dir():
        found = f"the file {parent}" if parent.exists() else f"no directory {parent}"
        raise InputError(
            f"expected an existing directory to write {what} into; found {found}",
            field=option,
        )
    why = _cannot_create_in(parent)
    if why is not None:
        raise InputError(
            f"expected a directory {what} can be written into; found {parent}, where no file "
            f"can be created ({why})",
            field=option,
        )


def check_output_file(path: str | Path, *, option: str, what: str, inputs: Inputs = ()) -> Path:
    """Refuse an output file the module docstring's rule forbids; return it as a Path.

    Raises
    ------
    InputError
        Naming ``option`` as the field: a directory, a symlink, a FIFO, a device or a socket
        at ``path``; a directory that does not exist or where nothing can be created; one of
        ``inputs``.
    """
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"expected a file name for {what}; found the directory {path}", field=option)
        _refuse_link_or_special(path, st, option, what)
    _require_directory(path.parent, option, what)
    if st is not None:
        _refuse_input(path, st, option, inputs)
    return path


def check_output_dir(directory: str | Path, *, option: str, what: str) -> Path:
    """Refuse an output directory (``--csv DIR``): it must be a directory (not a symlink to one)
    where files can be created, or a new name in an existing directory (created when written).

    Raises
    ------
    InputError
        Naming ``option`` as the field.
    """
    directory = Path(directory)
    st = _lstat(directory)
    if st is None:
        _require_directory(directory.parent, option, what)
        return directory
    _refuse_link_or_special(directory, st, option, what)
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"expected a directory for {what}; found the file {directory}", field=option)
    why = _cannot_create_in(directory)
    if why is not None:
        raise InputError(
            f"expected a directory {what} can be written into; found {directory}, where no file "
            f"can be created ({why})",
            field=option,
        )
    return directory


def check_outputs(
    outputs: Sequence[Output], *, inputs: Inputs = (), new_dirs: Sequence[OutputDir] = ()
) -> None:
    """Check every output of a command (and the directories it creates) before anything is
    written; files inside a directory that does not exist yet are new by definition."""
    missing = set()
    for d in new_dirs:
        check_output_dir(d.path, option=d.option, what=d.what)
        if _lstat(d.path) is None:
            missing.add(d.path)
    for out in outputs:
        if out.path.parent not in missing:
            check_output_file(out.path, option=out.option, what=out.what, inputs=inputs)


def write_outputs(
    outputs: Sequence[Output], *, inputs: Inputs = (), new_dirs: Sequence[OutputDir] = ()
) -> list[Path]:
    """Write a set of outputs all or nothing: checked again (:func:`check_outputs`), each
    ``new_dirs`` entry created if missing (its parent must exist), every file written to a
    temporary file beside it, then all renamed into place. On an error nothing is left: no
    temporary file, no directory made here.

    Raises
    ------
    InputError
        An output the rule refuses.
    OSError
        A file that cannot be written (disk full, permissions).
    """
    check_outputs(outputs, inputs=inputs, new_dirs=new_dirs)
    made: list[Path] = []
    temps: list[tuple[str, Path]] = []
    try:
        for d in new_dirs:
            if _lstat(d.path) is None:
                os.mkdir(d.path)
                made.append(d.path)
        for out in outputs:
            temps.append((_write_temp(out.path, out.data), out.path))
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        for made_dir in reversed(made):
            _remove_quietly(made_dir)
        raise
    return [o.path for o in outputs]


def _remove_quietly(directory: Path) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(directory)


def _write_temp(path: Path, data: str | bytes) -> str:
    """``data`` in a new temporary file beside ``path`` with the usual mode (``0666`` less the
    umask, not ``mkstemp``'s ``0600``); its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the whole new one, never a part; an error or an
    interrupt leaves no temporary file behind. The file gets the usual mode
    (``0666`` less the umask), not ``mkstemp``'s ``0600``. Text is UTF-8. This is the
    low-level step; a file a user names goes through :func:`write_outputs`.
    """
    path = Path(path)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_regular_file(path: str | Path, *, what: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` bytes of a regular file: one that is not (``/dev/zero``, a FIFO, a
    directory) is refused unread, a larger one after ``max_bytes + 1`` bytes.

    Raises
    ------
    InputError
        Naming the file: unreadable, not a regular file, larger than ``max_bytes``.
    """
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer before it is refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise InputError(f"expected a readable {what}; found {err.strerror or err}", file=path) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else _SPECIAL.get(stat.S_IFMT(mode), "not a file")
        raise InputError(f"expected a {what} (a regular file); found {kind}", file=path)
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as err:
            raise InputError(f"expected a readable {what}; found {err.strerror or err}", file=path) from None
    return refuse_oversize(data, what=what, max_bytes=max_bytes, file=str(path))


def refuse_oversize(data: bytes, *, what: str, max_bytes: int, file: str) -> bytes:
    """``data`` when it holds at most ``max_bytes``, else an :class:`InputError` naming ``file``."""
    if len(data) > max_bytes:
        limit = f"{max_bytes // (1024 * 1024)} MiB" if max_bytes >= 1024 * 1024 else f"{max_bytes} bytes"
        raise InputError(f"expected a {what} of at most {limit}; found a larger one", file=file)
    return data


def sha256_of(path: str | Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None

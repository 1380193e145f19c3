"""The planner's error hierarchy.

Every error the planner raises on purpose derives from :class:`PlannerError`.
The CLI maps them to exit codes in one place (``planner.cli``):

====================  =========  ===============================================
class                 exit code  meaning
====================  =========  ===============================================
``InputError``        2          bad input: a file, a line, a field, an option
``EvidenceError``     2          a boot log or /proc dump that cannot be parsed
``CalibrationError``  2          logs that cannot be calibrated together
``InfeasibleError``   2          a request no size or packing can satisfy
``LiveQueryError``    3          a libvirt host that could not be queried
``PlannerError``      3          any other planner failure
====================  =========  ===============================================

Messages say what was expected and what was found, e.g.
``host.yaml:4: host.memory: expected a size such as 64GiB; found '64XB'``.
"""

from __future__ import annotations

from pathlib import Path


class PlannerError(Exception):
    """Root of every error the planner raises on purpose."""

    exit_code = 3


class InputError(PlannerError, ValueError):
    """Bad input, located by file, line and field where known.

    Parameters
    ----------
    message
        What was expected and what was found.
    file
        The file the input came from, if any.
    line
        1-based line number in ``file``, if known.
    field
        Dotted path of the offending field or option (``host.memory``, ``--memory``).
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"

    def located(
        self,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> InputError:
        """Return a copy of this error with missing location parts filled in."""
        err = type(self).__new__(type(self))
        InputError.__init__(
            err,
            self.message,
            file=self.file if self.file is not None else file,
            line=self.line if self.line is not None else line,
            field=self.field if self.field is not None else field,
        )
        return err


class EvidenceError(InputError):
    """A boot log, /proc dump or ``size`` output that cannot be parsed."""


class CalibrationError(InputError):
    """Logs that cannot be calibrated together (mixed builds, too few sizes)."""


class InfeasibleError(InputError):
    """A request that no guest size or packing can satisfy."""


class LiveQueryError(PlannerError):
    """A live libvirt host could not be queried (unreachable, denied, restarted)."""


class OutOfRangeWarning(UserWarning):
    """A prediction outside the range a calibration was made on."""

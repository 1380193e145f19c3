"""HiGHS's integer solver (``scipy.optimize.milp``) with its stray output kept off stdout.

HiGHS's integer search sometimes prints a debugging line
(``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``) to file
descriptor 1 whatever ``disp`` says; on stdout it would corrupt every ``--json`` a command
prints. :func:`milp` runs the solver with descriptor 1 on ``/dev/null``. The redirection is
counted under a lock, so solves in several threads share one redirection and stdout comes back
when the last one ends. scipy is imported on the first solve, never at start-up.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED_FD: int | None = None


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """File descriptor 1 on ``/dev/null`` inside the block (the outermost block of any thread
    redirects, the last to leave restores)."""
    global _DEPTH, _SAVED_FD
    with _LOCK:
        if _DEPTH == 0:
            sys.stdout.flush()
            _SAVED_FD = os.dup(1)
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 1)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _SAVED_FD is not None:
                os.dup2(_SAVED_FD, 1)
                os.close(_SAVED_FD)
                _SAVED_FD = None


def milp(*args: Any, **kwargs: Any) -> OptimizeResult:
    """``scipy.optimize.milp(*args, **kwargs)`` with HiGHS's stray output kept off stdout."""
    from scipy.optimize import milp as scipy_milp

    with quiet_stdout():
        return scipy_milp(*args, **kwargs)

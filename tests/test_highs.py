"""planner.capacity.highs: every integer solve keeps HiGHS's stray output off stdout (it would
corrupt --json), and stdout comes back after solves in several threads."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint

from planner.capacity import highs


def test_stdout_is_quiet_inside_and_back_after(capfd: pytest.CaptureFixture[str]) -> None:
    os.write(1, b"before\n")
    with highs.quiet_stdout():
        os.write(1, b"inside\n")
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "before\nafter\n"


def test_overlapping_threads_share_one_redirection(capfd: pytest.CaptureFixture[str]) -> None:
    """A enters, B enters, A leaves (B still quiet), B leaves: stdout is back, not /dev/null."""
    a_in, a_out, b_in = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with highs.quiet_stdout():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with highs.quiet_stdout():
            b_in.set()
            a_out.wait(10)
            os.write(1, b"b after a left\n")

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    os.write(1, b"main\n")
    assert capfd.readouterr().out == "main\n"


def test_milp_solves_as_scipy_does(capfd: pytest.CaptureFixture[str]) -> None:
    """A 0/1 knapsack (values 10, 13, 7; weights 5, 7, 4; capacity 11): best 20 = items 2 and 3
    (items 1 and 2 would be 23 but weigh 12)."""
    res = highs.milp(
        -np.array([10.0, 13.0, 7.0]),
        integrality=np.ones(3),
        bounds=Bounds(0, 1),
        constraints=[LinearConstraint(np.array([[5.0, 7.0, 4.0]]), -np.inf, 11.0)],
    )
    assert res.status == 0 and -res.fun == pytest.approx(20.0)
    assert np.rint(res.x).tolist() == [0.0, 1.0, 1.0]
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"

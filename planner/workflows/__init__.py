"""Workflows: each planner command as one library call that returns a typed result.

:mod:`.fit` (``planner fit``, with :mod:`.guests` and :mod:`.fit_report`), :mod:`.check`
(``planner check``, with :mod:`.analyze`), :mod:`.kernel` (``calibrate``, ``predict``),
:mod:`.catalog` (``profiles``, ``schema``), :mod:`.bootlab` (``bootlab``). A workflow reads
its inputs (:mod:`planner.inputs`, :mod:`planner.live`), computes with :mod:`planner.kernel`,
:mod:`planner.hypervisors` and :mod:`planner.capacity`, and returns a
:mod:`planner.results` object that carries everything its report needs.
"""

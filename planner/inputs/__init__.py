"""Inputs: every file the planner reads, and the one door for YAML.

Host files, guest and hypervisor profiles, and kernel calibrations go
:mod:`.yaml` (a loader that records the line of every key and refuses duplicate
keys) -> :mod:`.schema` (pydantic, ``extra="forbid"``) -> :mod:`.specs` (frozen
dataclasses). Every error is an :class:`~planner.errors.InputError` with file, line
and field, saying what was expected and what was found::

    host.yaml:4: host.memory: expected a positive size such as 64GiB or 128MiB; found '-5MiB'

:mod:`.profiles` finds guest and hypervisor profiles (shipped in the package, or by
path); :mod:`.hostfile` applies a host file's rules; :mod:`.calibrations` reads and
writes kernel calibration files (the frozen ``Calibration`` itself lives in
:mod:`planner.kernel.calibration`).
"""

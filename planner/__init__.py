"""planner: guest-density capacity planner for virtualization hosts."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__version__ = "0.1.0"


def data_dir(name: str) -> Path:
    """The directory of a data package shipped with planner: ``profiles`` or ``templates``.

    Installed, they are the packages ``planner.profiles`` and ``planner.templates``
    (pyproject maps the top-level ``profiles/`` and ``templates/`` onto them); run
    from a source checkout (``python -m planner`` in the repository) they are the
    top-level directories themselves.
    """
    try:
        return Path(str(importlib.resources.files(f"planner.{name}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / name

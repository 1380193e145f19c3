"""planner: guest-density capacity planner for virtualization hosts."""

__version__ = "0.1.0"

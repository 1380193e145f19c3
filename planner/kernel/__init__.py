"""planner.kernel."""

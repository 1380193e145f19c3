"""planner.hypervisors."""

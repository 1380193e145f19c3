"""planner.bootlab."""

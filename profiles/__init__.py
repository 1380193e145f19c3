"""Kernel calibrations shipped with the planner."""

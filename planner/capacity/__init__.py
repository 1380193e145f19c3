"""Capacity across many hosts: fleet sizing, headroom, N+r failover and consolidation."""

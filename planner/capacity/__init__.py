"""Capacity: what guests take from a host's NUMA nodes, what the nodes offer, and the packing.

:mod:`.sizing` the guest kernel model across sizes (usable memory, ``memory: auto``);
:mod:`.demand` the one per-guest demand builder (fit, check headroom and the size sweeps all
use it) and the one-profile-alone counts; :mod:`.nodes` node capacity (host kernel and
reserves); :mod:`.placement` where a live host's domains sit; :mod:`.solver` the integer
program (scipy ``milp``) and :mod:`.binding` its constraints' names as words;
:mod:`.fleet` many hosts: fleet sizing, headroom, N+r failover and consolidation.
"""

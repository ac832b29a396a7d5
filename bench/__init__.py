"""Benchmarks of the Neural Heatmap bridge against the direct HTTP route and the seed's JSON.

Run ``python -m bench`` (``make bench``) or ``python -m bench --quick`` (``make bench-quick``).
Every case starts a fresh server and bridge on free loopback ports, runs its variants side
by side (alternating, several repetitions) and reports medians with their spread; results
land in ``bench/results/`` as JSON and Markdown. See ``docs/benchmarks.md``.
"""

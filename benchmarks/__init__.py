"""Scripts that measure (run from the repository root: ``python -m benchmarks.<name>``).

Results are JSON under ``benchmarks/results/`` and are summarised in ``docs/PERFORMANCE.md``.
"""

"""Monte Carlo studies shared by the tests (small, fixed seeds) and ``benchmarks/`` (full scale)."""

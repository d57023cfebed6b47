"""Load benchmarks for Sincro (``python -m bench.run_all``); see docs/benchmarks.md."""

"""Benchmarks: `python -m bench.fanout` (fan-out latency), `python -m bench.idle` (memory)."""

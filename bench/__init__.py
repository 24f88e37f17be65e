"""Benchmarks, each printing a table and writing JSON under `bench/results/`.

- `python -m bench.fanout`: fan-out latency, livebot against a polling baseline
- `python -m bench.idle`: server memory per idle viewer
- `python -m bench.webhooks`: webhook burst latency, each delivery queued exactly once
"""

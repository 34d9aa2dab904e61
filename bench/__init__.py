"""Benchmarks that print their figures and write them as JSON to ``bench/results/``.

``python -m bench.pages`` measures the meeting page and search on the demo municipality against a real
server process, on SQLite and PostgreSQL, next to a ``/healthz`` baseline measured in the same run.
``bench._load`` is the shared load generator (server process, HTTP workers, percentiles, table, JSON).
See ``bench/README.md``.
"""

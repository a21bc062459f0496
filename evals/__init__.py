"""Benchmarks, judges, baselines and reports (a later issue)."""

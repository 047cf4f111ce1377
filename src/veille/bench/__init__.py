"""Benchmarks run by `veille bench`."""

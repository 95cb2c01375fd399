"""Benchmarks of belka_lab: `python -m benchmarks <suite>` from the repository root. The library never imports them."""

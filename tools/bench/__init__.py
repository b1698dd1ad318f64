"""Benchmarks. Each module exposes ``run(quick: bool) -> list[Row]`` and runs alone
with ``python -m edgecascade.tools.bench.<name>``; ``python -m edgecascade.tools.bench``
runs them all and writes BENCHMARKS.md. Every figure is a ratio against a baseline
measured in the same run, because these machines are shared and noisy."""

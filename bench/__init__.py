"""Benchmarks: each ``bench/bench_<area>.py`` has ``main()`` and prints ratios against peers measured in the same run."""

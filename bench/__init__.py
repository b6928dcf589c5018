"""Benchmarks: Berth against its peers, driven by ``bench/run.py`` (``make bench``)."""

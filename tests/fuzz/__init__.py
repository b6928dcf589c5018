"""A seeded mutation fuzzer for the HTTP/1.1 server.

``mutate`` turns a seed and a case index into request bytes (valid requests from the corpus
and our own, mutated); ``target`` runs a real server on a loopback port in a background
thread; ``check`` reads what came back; ``runner`` drives the cases and keeps the figures.
``python -m tests.fuzz --seconds 300`` (``make fuzz``) runs it for minutes, and
``tests/fuzz/test_fuzz.py`` runs a few thousand cases in CI.
"""

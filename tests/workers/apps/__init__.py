"""Applications and gunicorn configuration modules the worker tests serve."""

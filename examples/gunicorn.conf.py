"""gunicorn settings for the demo (``make run``): Prometheus's multiprocess hooks, so that
``/metrics`` counts every worker's requests (docs/middlewares/metrics.md). gunicorn reads the
hooks by these names."""

from middlewares.metrics import child_exit, on_starting

__all__ = ["child_exit", "on_starting"]

"""gunicorn worker classes: ``gunicorn 'pkg:create_app' -k runtime.workers.GunicornWebWorker``.

``GunicornUVLoopWebWorker`` is the same worker on a uvloop loop. See docs/gunicorn-worker.md.
"""

from .worker import GunicornUVLoopWebWorker, GunicornWebWorker

__all__ = ["GunicornUVLoopWebWorker", "GunicornWebWorker"]

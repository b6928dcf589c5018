"""gunicorn worker classes: ``gunicorn 'pkg:create_app' -k runtime.workers.GunicornWebWorker``.

``GunicornUVLoopWebWorker`` is the same worker on a uvloop loop. See docs/gunicorn-worker.md.
``GunicornAiohttpCompatWorker`` (and its uvloop twin) serves aiohttp applications and their
extensions unchanged, in the aiohttp compatibility mode (docs/compat.md).
``logconfig_dict()`` and ``StructuredLogger`` give every log line one shape
(docs/observability.md).
"""

from .compat_worker import GunicornAiohttpCompatWorker, GunicornUVLoopAiohttpCompatWorker
from .logconfig import LOGGER_CLASS, StructuredLogger, logconfig_dict
from .worker import GunicornUVLoopWebWorker, GunicornWebWorker

__all__ = [
    "LOGGER_CLASS",
    "GunicornAiohttpCompatWorker",
    "GunicornUVLoopAiohttpCompatWorker",
    "GunicornUVLoopWebWorker",
    "GunicornWebWorker",
    "StructuredLogger",
    "logconfig_dict",
]

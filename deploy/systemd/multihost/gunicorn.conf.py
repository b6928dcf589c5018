# Rendered by:
#   python -m runtime.deploy gunicorn --name myapp --bind 10.0.0.11:8000 --redis-url \
#     redis://10.0.0.10:6379/0 --forwarded-allow-ips 10.0.0.10
# Change the options and render again rather than editing this file.
#
# gunicorn settings for "myapp". Install as /etc/myapp/gunicorn.conf.py;
# the systemd unit runs `gunicorn --config /etc/myapp/gunicorn.conf.py`.
# Values marked "agrees with nginx" move together with the nginx config (same options).
import os

from runtime.workers import logconfig_dict

wsgi_app = "myapp:create_app"
worker_class = "runtime.workers.GunicornWebWorker"
proc_name = "myapp"

# Where nginx connects. Under systemd, myapp.socket owns this socket and gunicorn
# inherits it (LISTEN_FDS); the bind is used when gunicorn runs without the socket unit.
bind = ["10.0.0.11:8000"]
backlog = 2048

# One worker per CPU: each runs an event loop. WEB_CONCURRENCY overrides.
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or os.cpu_count() or 1

# Agrees with nginx: longer than its upstream `keepalive_timeout` (60 s),
# so nginx, not gunicorn, closes idle upstream connections.
keepalive = 75
# The watchdog restarts a worker whose event loop is blocked this long.
timeout = 30
# A graceful stop (SIGTERM, HUP, max_requests) lets in-flight requests finish this long;
# the systemd unit's TimeoutStopSec (45 s) is longer.
graceful_timeout = 30

# Whose X-Forwarded-* headers are believed: the nginx host(s). Peers on a unix socket are
# always trusted, so with nginx on the same host this list only matters for TCP binds.
forwarded_allow_ips = "10.0.0.10"
# Only the scheme header nginx sets (and overwrites): a client's own X-Forwarded-Ssl or
# X-Forwarded-Protocol, passed through by nginx, must not make a request look secure.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# The Redis server runtime.cluster shares between workers and hosts (--redis-url), for a
# gunicorn started without the unit. An environment that names one wins: the unit's
# Environment=, or /etc/myapp/env (where a URL with a password belongs). Set in the
# master before the workers fork, so a new URL needs a restart, not a reload.
os.environ.setdefault("REDIS_URL", "redis://10.0.0.10:6379/0")

# The unit's RuntimeDirectory: a tmpfs, writable under ProtectSystem=strict.
worker_tmp_dir = "/run/myapp"
control_socket = os.path.join("/run/myapp", "gunicorn.ctl")

# Logs go to stderr, which is the journal under systemd, every line in one shape
# (json, docs/observability.md): gunicorn's error log, its access line (fields,
# with the request id; nginx keeps its own access log too), the framework's and the app's.
errorlog = "-"
loglevel = "info"
accesslog = None
logconfig_dict = logconfig_dict(json=True)
logger_class = "runtime.workers.logconfig.StructuredLogger"


# Prometheus multiprocess mode (docs/middlewares/metrics.md). Only when the environment sets
# PROMETHEUS_MULTIPROC_DIR (before gunicorn starts, e.g. Environment= in the unit): start
# from an empty directory; when a worker exits, drop its live gauges and fold its counters
# and histograms into one archive file per type, so they stay summed and the directory
# stays bounded under max_requests.
def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for entry in os.scandir(path):
            if entry.name.endswith((".db", ".db.tmp")):
                os.remove(entry.path)


def child_exit(server, worker):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from middlewares.metrics import child_exit as fold_worker  # noqa: PLC0415
    except ImportError:  # prometheus_client is an optional dependency (berth[prometheus])
        return
    fold_worker(server, worker)

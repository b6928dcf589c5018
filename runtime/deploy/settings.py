"""``DeploySettings``: one description of a deployment, from which every file is rendered.

Every template reads the same settings, so the values that must agree between nginx, gunicorn
and systemd (the socket path, keep-alive times, the body size limit, timeouts) are computed
in one place: :meth:`DeploySettings.context`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import urllib.parse
from typing import Literal

__all__ = ["DeploySettings", "check_redis_url", "parse_size"]

# Unit names, user names and nginx identifiers are built from the name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_APP = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(\))?")
# Characters that could end a directive or a line in nginx, systemd or Python literals.
_UNSAFE = re.compile(r"[\s;{}'\"\\#$`]")
_SERVER_NAME = re.compile(r"[A-Za-z0-9_*.~^()\\-]+|_")
# "80", "127.0.0.1:8080", "[::]:80", "443 ssl default_server".
_LISTEN = re.compile(r"[\w.:\[\]*]+( [\w=.]+)*")
_SIZE = re.compile(r"(?i)(\d+)([kmg]?)")
# A location prefix nginx matches literally against the decoded path: no spaces, quotes,
# braces, '?' or '%' (neither can appear in the path nginx compares).
_LOCATION = re.compile(r"/[A-Za-z0-9._~!*+,:@=&/-]*")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# The URL forms redis-py's from_url() reads (what runtime.cluster passes REDIS_URL to).
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_REDIS_FORMS = "redis://HOST[:PORT][/DB], rediss://HOST[:PORT][/DB] or unix:///PATH[?db=DB]"
# The characters a URL may keep in a systemd Environment= value and a Python literal: no
# '%' (a systemd specifier, and percent-encoding only matters for credentials, refused).
_REDIS_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?&=\[\]@+,-]+")

# One location nested in "location /": it inherits every proxy_* and gzip directive from
# there (proxy_pass, a handler, is not inherited and is repeated) and only changes buffering.
_STREAMING_LOCATION = """\
        location {prefix} {{
            proxy_pass http://{ident}_app;
            proxy_request_buffering off;
        }}"""

# How much longer gunicorn waits than nginx (keep-alive) and systemd than gunicorn (stop).
KEEPALIVE_MARGIN = 15
STOP_MARGIN = 15


def parse_size(value: str | int) -> int:
    """Parse a body size as nginx writes it (``1048576``, ``512k``, ``10m``, ``1g``) into bytes.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative: {value}")
        return value
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid size {value!r}: write bytes or a number with k, m or g")
    return int(match[1]) * _SIZE_UNITS[match[2].lower()]


def _nginx_size(size: int) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _check_path(what: str, path: str) -> None:
    if not path.startswith("/") or _UNSAFE.search(path) or "//" in path:
        raise ValueError(f"{what} must be an absolute path without spaces or quotes: {path!r}")


def _check_url_prefix(what: str, url: str) -> None:
    if not (url.startswith("/") and url.endswith("/")) or _UNSAFE.search(url):
        raise ValueError(f"{what} must start and end with '/': {url!r}")


def _check_location(what: str, prefix: str) -> None:
    if not _LOCATION.fullmatch(prefix) or "//" in prefix:
        raise ValueError(
            f"{what} must be a path prefix such as /api/upload/ (letters, digits and "
            f"._~!*+,:@=&-/ only): {prefix!r}"
        )


def check_redis_url(url: str, *, name: str) -> None:
    """Check a Redis URL for the unit's ``Environment=`` and gunicorn.conf.py.

    Credentials (the userinfo, RFC 3986 3.2.1, or redis-py's ``?password=``) are refused: a
    unit file is world-readable (``systemctl show`` prints its environment), so a URL with a
    password belongs in ``/etc/<name>/env`` (``name`` is the service's), whose ``REDIS_URL``
    wins over the unit's (systemd.exec(5), ``EnvironmentFile=``).

    Raises:
        ValueError: naming ``--redis-url`` and what is wrong.
    """

    def refuse(why: str) -> ValueError:
        return ValueError(f"invalid --redis-url {url!r}: {why}")

    if not _REDIS_URL_CHARS.fullmatch(url):
        raise refuse(f"expected {_REDIS_FORMS}, without spaces, quotes, '#', '%' or '$'")
    try:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, strict_parsing=bool(parts.query))
        port = parts.port
        host = parts.hostname  # checks a bracketed IPv6 address (RFC 3986 3.2.2)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if parts.scheme not in _REDIS_SCHEMES or not url.startswith(f"{parts.scheme}://"):
        raise refuse(f"expected {_REDIS_FORMS}")
    if parts.username or parts.password or "@" in parts.netloc or "password" in dict(query):
        raise refuse(
            f"a password must not be in the unit or gunicorn.conf.py, which others can read: "
            f"set REDIS_URL in /etc/{name}/env instead (it overrides the unit's)"
        )
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or "//" in parts.path:
            raise refuse(f"expected unix:///PATH, an absolute socket path ({_REDIS_FORMS})")
        return
    if not host:
        raise refuse(f"no host ({_REDIS_FORMS})")
    if port is not None and not 0 < port < 65536:
        raise refuse("the port must be 1 to 65535")
    if parts.path not in ("", "/") and not parts.path[1:].isdigit():
        raise refuse(f"the path is the database number, /0 to /N, not {parts.path!r}")


def split_host_port(value: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port``; the host is validated loosely (no spaces, quotes).

    Raises:
        ValueError: when there is no valid port or the host is empty or unsafe.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {value!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"unbalanced brackets in {value!r}")
        ipaddress.IPv6Address(host[1:-1])
    elif ":" in host or _UNSAFE.search(host):
        raise ValueError(f"invalid host in {value!r} (write IPv6 addresses as [addr]:port)")
    return host, int(port)


@dataclasses.dataclass(frozen=True)
class DeploySettings:
    """A deployment of one application: names, paths and the numbers nginx and gunicorn share.

    Attributes:
        name: the service name: unit names, ``/etc/<name>``, ``/run/<name>``, nginx upstream.
        app: gunicorn's application, ``module:factory`` (default ``<name>:create_app``).
        socket: the unix socket between nginx and gunicorn (default ``/run/<name>.sock``).
        bind: ``host:port`` for gunicorn to listen on TCP instead (an application host of a
            multi-host setup); the socket unit listens there.
        upstreams: ``host:port`` of each application host; nginx balances over them instead of
            proxying to the local unix socket.
        server_name: nginx ``server_name`` (space-separated names).
        listen: nginx ``listen`` addresses.
        root: the application's directory (``WorkingDirectory``); default ``/srv/<name>``.
        venv: the virtual environment holding gunicorn; default ``<root>/venv``.
        static_url, static_root: served by nginx; an empty root leaves the location out.
        accel_url, accel_root: the ``internal`` location for ``X-Accel-Redirect``; an empty
            root leaves it out.
        client_max_size: the largest request body, as the app's ``client_max_size``.
        client_body_buffer_size: request bodies up to this size stay in nginx's memory while
            nginx reads them; larger ones are spooled to a temporary file.
        client_body_timeout: nginx's ``client_body_timeout`` (seconds): the longest pause
            between two reads of a request body, not a limit on the whole upload.
        client_header_timeout: nginx's ``client_header_timeout`` (seconds): the time a client
            has to send the whole request head.
        streaming_locations: path prefixes whose request bodies nginx passes on as they arrive
            (``proxy_request_buffering off``); every other request reaches the application
            only once nginx has its whole body. Each becomes a location nested in ``/``.
        read_timeout: nginx's ``proxy_read_timeout``/``proxy_send_timeout`` (seconds).
        upstream_idle: nginx's upstream ``keepalive_timeout``; gunicorn's ``keepalive`` is
            this plus 15 s.
        upstream_keepalive: idle upstream connections nginx keeps per worker.
        compression: who compresses responses, ``"app"`` (the middleware) or ``"nginx"``.
        user, group: the account gunicorn runs as (default: the name).
        nginx_user: the account nginx's workers run as (owns the unix socket).
        workers: gunicorn workers; 0 means one per CPU.
        timeout, graceful_timeout: gunicorn's; systemd's ``TimeoutStopSec`` is graceful + 15.
        backlog: the listen backlog (socket unit and gunicorn).
        forwarded_allow_ips: the proxies gunicorn trusts for ``X-Forwarded-*``.
        config_path: where the gunicorn config is installed.
        runtime_dir: gunicorn's control socket and heartbeat files (the unit's
            ``RuntimeDirectory``, ``/run/<name>``).
        log_format: every log line on stderr as ``"json"`` (production) or ``"console"``:
            gunicorn's ``logconfig_dict`` from ``runtime.workers.logconfig_dict``
            (docs/observability.md).
        redis_url: the Redis server ``runtime.cluster`` uses, rendered as ``REDIS_URL`` into
            the unit's environment and gunicorn.conf.py; empty: none. Without credentials
            (:func:`check_redis_url`).
    """

    name: str
    app: str = ""
    socket: str = ""
    bind: str = ""
    upstreams: tuple[str, ...] = ()
    server_name: str = "_"
    listen: tuple[str, ...] = ("80", "[::]:80")
    root: str = ""
    venv: str = ""
    static_url: str = "/static/"
    static_root: str | None = None
    accel_url: str = "/_protected/"
    accel_root: str | None = None
    client_max_size: int = 1024**2
    client_body_buffer_size: int = 64 * 1024
    client_body_timeout: int = 30
    client_header_timeout: int = 15
    streaming_locations: tuple[str, ...] = ()
    read_timeout: int = 300
    upstream_idle: int = 60
    upstream_keepalive: int = 32
    compression: Literal["app", "nginx"] = "app"
    user: str = ""
    group: str = ""
    nginx_user: str = "www-data"
    workers: int = 0
    timeout: int = 30
    graceful_timeout: int = 30
    backlog: int = 2048
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    config_path: str = ""
    runtime_dir: str = ""
    log_format: Literal["json", "console"] = "json"
    redis_url: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"name {self.name!r} must be letters, digits, '_', '.' or '-' (at most 64)"
            )

        def default(field: str, value: str) -> None:
            if getattr(self, field) is None or getattr(self, field) == "":
                object.__setattr__(self, field, value)

        default("app", f"{self.name.replace('-', '_').replace('.', '_')}:create_app")
        default("socket", f"/run/{self.name}.sock")
        default("root", f"/srv/{self.name}")
        default("venv", f"{self.root}/venv")
        default("user", self.name)
        default("group", self.user)
        default("config_path", f"/etc/{self.name}/gunicorn.conf.py")
        default("runtime_dir", f"/run/{self.name}")
        # None means "the default place"; "" means "no such location".
        if self.static_root is None:
            object.__setattr__(self, "static_root", f"{self.root}/static")
        if self.accel_root is None:
            object.__setattr__(self, "accel_root", f"{self.root}/protected")
        self._validate()

    def _validate(self) -> None:
        if not _APP.fullmatch(self.app):
            raise ValueError(f"app must be module:factory, got {self.app!r}")
        for what in ("socket", "root", "venv", "config_path", "runtime_dir"):
            _check_path(what, getattr(self, what))
        for what in ("static_root", "accel_root"):
            value = getattr(self, what)
            if value:
                _check_path(what, value.rstrip("/") or "/")
        _check_url_prefix("static_url", self.static_url)
        _check_url_prefix("accel_url", self.accel_url)
        self._validate_streaming_locations()
        self._validate_network()
        if self.redis_url:
            check_redis_url(self.redis_url, name=self.name)
        if self.compression not in ("app", "nginx"):
            raise ValueError(f"compression must be 'app' or 'nginx', not {self.compression!r}")
        if self.log_format not in ("json", "console"):
            raise ValueError(f"log_format must be 'json' or 'console', not {self.log_format!r}")
        numbers = (
            "read_timeout",
            "upstream_idle",
            "upstream_keepalive",
            "timeout",
            "backlog",
            "client_body_buffer_size",
            "client_body_timeout",
            "client_header_timeout",
        )
        for what in (*numbers, "graceful_timeout"):
            if getattr(self, what) < (0 if what == "graceful_timeout" else 1):
                raise ValueError(f"{what} must be positive")
        if self.workers < 0 or self.client_max_size < 0:
            raise ValueError("workers and client_max_size must not be negative")

    def _validate_streaming_locations(self) -> None:
        if len(set(self.streaming_locations)) != len(self.streaming_locations):
            raise ValueError(f"streaming_locations has duplicates: {self.streaming_locations}")
        # nginx picks the longest matching top-level prefix first and only then looks at the
        # locations nested in it, so a prefix under the static or accel location would never
        # be used; "/" itself is the buffered location.
        served = ((self.static_url, self.static_root), (self.accel_url, self.accel_root))
        others = [url for url, root in served if root]
        for prefix in self.streaming_locations:
            _check_location("a streaming location", prefix)
            if prefix == "/":
                raise ValueError("a streaming location must be narrower than '/'")
            for url in others:
                if prefix.startswith(url):
                    raise ValueError(f"streaming location {prefix!r} is inside {url!r}")

    def _validate_network(self) -> None:
        if self.bind:
            split_host_port(self.bind)
        for upstream in self.upstreams:
            split_host_port(upstream)
        for name in self.server_name.split():
            if not _SERVER_NAME.fullmatch(name):
                raise ValueError(f"invalid server_name {name!r}")
        if not self.server_name.split():
            raise ValueError("server_name must not be empty")
        if not self.listen:
            raise ValueError("listen must name at least one address")
        for value in self.listen:
            if not _LISTEN.fullmatch(value):
                raise ValueError(f"invalid listen address {value!r}")
        for value in (*self.forwarded_allow_ips, self.user, self.group):
            if not value or _UNSAFE.search(value):
                raise ValueError(f"invalid value {value!r}")
        if not _NAME.fullmatch(self.nginx_user):
            raise ValueError(f"invalid nginx_user {self.nginx_user!r}")

    @property
    def gunicorn_keepalive(self) -> int:
        """gunicorn's ``keepalive``: longer than nginx's upstream idle time."""
        return self.upstream_idle + KEEPALIVE_MARGIN

    @property
    def stop_timeout(self) -> int:
        """systemd's ``TimeoutStopSec``: longer than gunicorn's ``graceful_timeout``."""
        return self.graceful_timeout + STOP_MARGIN

    def context(self, header: str) -> dict[str, object]:
        """The values the templates use, derived values included."""
        ident = re.sub(r"\W", "_", self.name)
        servers = self.upstreams or (f"unix:{self.socket}",)
        # fail_timeout=0: one failed attempt never takes the only (local) server out of
        # rotation; with several hosts, a failing one is skipped for 10 s.
        params = " max_fails=3 fail_timeout=10s" if self.upstreams else " fail_timeout=0"
        upstream_servers = "\n".join(f"    server {server}{params};" for server in servers)
        gunicorn_bind = self.bind or f"unix:{self.socket}"
        workers = (
            f'int(os.environ.get("WEB_CONCURRENCY", "{self.workers}"))'
            if self.workers
            else 'int(os.environ.get("WEB_CONCURRENCY", "0")) or os.cpu_count() or 1'
        )
        return {
            "header": header,
            "name": self.name,
            "ident": ident,
            "upstream_servers": upstream_servers,
            "balance_least_conn": bool(self.upstreams),
            "upstream_keepalive": self.upstream_keepalive,
            "upstream_idle": self.upstream_idle,
            "gunicorn_keepalive": self.gunicorn_keepalive,
            "listen_lines": "\n".join(f"    listen {address};" for address in self.listen),
            "server_name": self.server_name,
            "client_max_size": _nginx_size(self.client_max_size),
            "client_max_bytes": self.client_max_size,
            "client_body_buffer_size": _nginx_size(self.client_body_buffer_size),
            "client_body_timeout": self.client_body_timeout,
            "client_header_timeout": self.client_header_timeout,
            "streaming_locations": "\n\n".join(
                _STREAMING_LOCATION.format(prefix=prefix, ident=ident)
                for prefix in self.streaming_locations
            ),
            "static": bool(self.static_root),
            "static_url": self.static_url,
            "static_root": (self.static_root or "").rstrip("/"),
            "accel": bool(self.accel_root),
            "accel_url": self.accel_url,
            "accel_root": (self.accel_root or "").rstrip("/"),
            "read_timeout": self.read_timeout,
            "compress_app": self.compression == "app",
            "compress_nginx": self.compression == "nginx",
            "user": self.user,
            "group": self.group,
            "nginx_user": self.nginx_user,
            "root": self.root,
            "venv": self.venv,
            "config_path": self.config_path,
            "graceful_timeout": self.graceful_timeout,
            "stop_timeout": self.stop_timeout,
            "timeout": self.timeout,
            "backlog": self.backlog,
            "unix": not self.bind,
            "listen_stream": self.bind or self.socket,
            "workers_expr": workers,
            # Python string literals; every value was checked for quotes and backslashes.
            "py_app": json.dumps(self.app),
            "py_name": json.dumps(self.name),
            "py_bind": json.dumps(gunicorn_bind),
            "py_forwarded_allow_ips": json.dumps(",".join(self.forwarded_allow_ips)),
            "py_runtime_dir": json.dumps(self.runtime_dir),
            "log_format": self.log_format,
            "py_log_json": repr(self.log_format == "json"),
            "redis_url": self.redis_url,
            "py_redis_url": json.dumps(self.redis_url),
        }

"""``python -m runtime.deploy nginx|systemd|gunicorn|... --name NAME``: print ready configs.

Examples::

    python -m runtime.deploy nginx --name shop --server-name shop.example.com
    python -m runtime.deploy systemd --name shop --output /etc/systemd/system
    python -m runtime.deploy gunicorn --name shop --app shop.main:create_app
    python -m runtime.deploy examples deploy     # regenerate the repository's deploy/ files
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .render import EXAMPLES, KINDS, render
from .settings import DeploySettings, parse_size

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.deploy",
        description="Render nginx, systemd and gunicorn configuration for an application "
        "served by gunicorn with runtime.workers.GunicornWebWorker behind nginx. The same "
        "options must be given to every kind, so the values they share agree.",
    )
    add = parser.add_argument
    add("kind", choices=sorted(KINDS), help="what to render (systemd = service + socket)")
    add("--output", "-o", metavar="DIR", help="write the files into DIR instead of stdout")
    add("--name", required=True, help="service name: units, /etc/NAME, /run/NAME, upstream")
    add("--app", default="", help="gunicorn's module:factory (default NAME:create_app)")
    add("--socket", default="", help="unix socket nginx -> gunicorn (default /run/NAME.sock)")
    add("--bind", default="", metavar="HOST:PORT", help="gunicorn listens on TCP instead")
    add(
        "--upstream",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an application host (repeat); nginx balances over them instead of the socket",
    )
    add("--server-name", default="_", help="nginx server_name (space-separated names)")
    add("--listen", action="append", default=[], help="nginx listen address (repeat; 80)")
    add("--root", default="", help="application directory (default /srv/NAME)")
    add("--venv", default="", help="virtualenv holding gunicorn (default ROOT/venv)")
    add("--static-url", default="/static/")
    add("--static-root", default=None, help="files nginx serves (default ROOT/static; '' = none)")
    add("--accel-url", default="/_protected/", help="internal location for X-Accel-Redirect")
    add("--accel-root", default=None, help="its directory (default ROOT/protected; '' = none)")
    add("--client-max-size", default="1m", help="largest request body, as the app's (1m)")
    add(
        "--client-body-buffer-size",
        default="64k",
        help="bodies nginx keeps in memory; larger ones go to a temp file (64k)",
    )
    add("--client-body-timeout", type=int, default=30, help="longest pause in a body (s)")
    add("--client-header-timeout", type=int, default=15, help="time to send the head (s)")
    add(
        "--streaming-location",
        action="append",
        default=[],
        metavar="PREFIX",
        help="path prefix whose request bodies nginx streams instead of buffering (repeat)",
    )
    add("--read-timeout", type=int, default=300, help="nginx proxy read/send timeout (s)")
    add("--upstream-idle", type=int, default=60, help="nginx upstream keepalive_timeout (s)")
    add("--upstream-keepalive", type=int, default=32, help="idle upstream connections kept")
    add("--compression", choices=("app", "nginx"), default="app", help="who compresses")
    add("--user", default="", help="account gunicorn runs as (default NAME)")
    add("--group", default="", help="its group (default the user)")
    add("--nginx-user", default="www-data", help="account of nginx's workers (socket owner)")
    add("--workers", type=int, default=0, help="gunicorn workers (default one per CPU)")
    add("--timeout", type=int, default=30, help="gunicorn watchdog timeout (s)")
    add("--graceful-timeout", type=int, default=30, help="gunicorn graceful_timeout (s)")
    add("--backlog", type=int, default=2048)
    add(
        "--forwarded-allow-ips",
        action="append",
        default=[],
        metavar="IP",
        help="proxy addresses gunicorn trusts (repeat; default 127.0.0.1 and ::1)",
    )
    add("--config-path", default="", help="gunicorn config (default /etc/NAME/gunicorn.conf.py)")
    add("--runtime-dir", default="", help="control socket + heartbeats (default /run/NAME)")
    add(
        "--log-format",
        choices=("json", "console"),
        default="json",
        help="every log line on stderr as JSON (production) or console lines (json)",
    )
    add(
        "--redis-url",
        default="",
        metavar="URL",
        help="REDIS_URL for runtime.cluster in the unit and gunicorn.conf.py (no password: "
        "put one in /etc/NAME/env)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> DeploySettings:
    """Build :class:`DeploySettings` from parsed options.

    Raises:
        ValueError: for an invalid value.
    """
    return DeploySettings(
        name=args.name,
        app=args.app,
        socket=args.socket,
        bind=args.bind,
        upstreams=tuple(args.upstream),
        server_name=args.server_name,
        listen=tuple(args.listen) or ("80", "[::]:80"),
        root=args.root,
        venv=args.venv,
        static_url=args.static_url,
        static_root=args.static_root,
        accel_url=args.accel_url,
        accel_root=args.accel_root,
        client_max_size=parse_size(args.client_max_size),
        client_body_buffer_size=parse_size(args.client_body_buffer_size),
        client_body_timeout=args.client_body_timeout,
        client_header_timeout=args.client_header_timeout,
        streaming_locations=tuple(args.streaming_location),
        read_timeout=args.read_timeout,
        upstream_idle=args.upstream_idle,
        upstream_keepalive=args.upstream_keepalive,
        compression=args.compression,
        user=args.user,
        group=args.group,
        nginx_user=args.nginx_user,
        workers=args.workers,
        timeout=args.timeout,
        graceful_timeout=args.graceful_timeout,
        backlog=args.backlog,
        forwarded_allow_ips=tuple(args.forwarded_allow_ips) or ("127.0.0.1", "::1"),
        config_path=args.config_path,
        runtime_dir=args.runtime_dir,
        log_format=args.log_format,
        redis_url=args.redis_url,
    )


def _options_text(argv: list[str], kind: str) -> str:
    """The options as typed, without the kind and --output (for the files' headers)."""
    kept: list[str] = []
    skip = kind_seen = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--output", "-o"):
            skip = True
        elif arg.startswith("--output=") or (arg.startswith("-o") and len(arg) > 2):
            continue
        elif arg == kind and not kind_seen:
            kind_seen = True
        else:
            kept.append(arg)
    return shlex.join(kept)


def write_examples(directory: Path) -> list[Path]:
    """Render the repository's example files (``deploy/``) into ``directory``."""
    written = []
    for example in EXAMPLES:
        args = _parser().parse_args([example.kind, *example.argv])
        files = render(example.kind, settings_from_args(args), options=shlex.join(example.argv))
        (text,) = files.values()
        path = directory / example.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["examples"]:
        if len(argv) != 2:
            print("usage: python -m runtime.deploy examples DIR", file=sys.stderr)
            return 2
        for path in write_examples(Path(argv[1])):
            print(f"wrote {path}")
        return 0
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = render(args.kind, settings, options=_options_text(argv, args.kind))
    if args.output:
        directory = Path(args.output)
        directory.mkdir(parents=True, exist_ok=True)
        for filename, text in files.items():
            (directory / filename).write_text(text, encoding="utf-8")
            print(f"wrote {directory / filename}", file=sys.stderr)
        return 0
    for index, (filename, text) in enumerate(files.items()):
        if len(files) > 1:
            print(f"{'' if index == 0 else chr(10)}# ==> {filename} <==")
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

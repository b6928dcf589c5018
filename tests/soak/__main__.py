"""``python -m tests.soak [scenario] [--seconds N] [--quick] [--server berth|aiohttp|both]``

Scenarios (``all``, the default, runs the three in this order):

- ``ws-churn``: thousands of WebSocket upgrades and closes, plain and with permessage-deflate;
  the workers' RSS and its growth per 1,000 closed sockets;
- ``idle-slow``: 2,000 idle / slowloris / slow-body connections against worker_connections
  1,000 while a legitimate client opens fresh connections at 50/s;
- ``sigterm``: a connection storm through a graceful stop: answered, refused, reset, timeout.

``--seconds`` scales the measured part (per run: ws-churn per phase and server, idle-slow the
legitimate traffic per phase and server, sigterm the client loop per round); ``--quick`` uses
about 15 s (a smoke test). Each scenario prints a table and one ``SOAK_RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.soak import idle_slow, report, sigterm, ws_churn
from tests.soak.servers import SERVERS, Gunicorn, Options, ServerError, load_average, raise_fd_limit

SCENARIOS: dict[str, ModuleType] = {
    ws_churn.NAME: ws_churn,
    idle_slow.NAME: idle_slow,
    sigterm.NAME: sigterm,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", nargs="?", default="all", choices=[*SCENARIOS, "all"])
    parser.add_argument("--seconds", type=float, help="length of each measured run")
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument("--uvloop", action="store_true", help="the workers' uvloop variants")
    parser.add_argument(
        "--berth-root",
        type=Path,
        help="serve Berth from this checkout (e.g. a git worktree of an older commit)",
    )
    parser.add_argument("--log-dir", type=Path, help="gunicorn logs (default: a new temp dir)")
    for module in SCENARIOS.values():
        module.add_arguments(parser)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    servers = list(SERVERS) if args.server == "both" else [args.server]
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="berth-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    fds = raise_fd_limit()
    seconds = args.seconds
    options = Options(berth_root=args.berth_root)
    origins = {server: Gunicorn(server, options, log_dir).runtime_origin() for server in servers}
    print(
        f"soak: servers {', '.join(servers)}; workers {'uvloop' if args.uvloop else 'asyncio'};"
        f" RLIMIT_NOFILE {fds}; load {load_average()}; logs in {log_dir}"
    )
    for server, origin in origins.items():
        print(f"  {server} from {origin}")
    failed = False
    for name in names:
        module = SCENARIOS[name]
        if seconds is not None:
            args.seconds = seconds
        else:
            args.seconds = module.QUICK_SECONDS if args.quick else module.DEFAULT_SECONDS
        try:
            figures: dict[str, Any] = await module.run(args, servers, log_dir)
        except ServerError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed = True
            continue
        report.emit(
            name,
            {
                "seconds": args.seconds,
                "uvloop": args.uvloop,
                "berth_root": str(args.berth_root or ""),
                "results": figures,
            },
        )
        sys.stdout.flush()
    return 1 if failed else 0


def run() -> int:
    args = parse_args()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main(args))
    return uvloop.run(main(args))


if __name__ == "__main__":
    sys.exit(run())

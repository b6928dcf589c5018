"""``python -m tests.fuzz``: fuzz the HTTP/1.1 server for a while and print the figures.

    python -m tests.fuzz --seconds 300              # five minutes, a random seed
    python -m tests.fuzz --cases 200000 --seed 7    # a fixed run
    python -m tests.fuzz --seed 7 --replay 1234     # one case again, alone, verbose

Exit status 1 when a case failed; each failing case is written to ``--out`` as
``seed<S>-case<I>.bin`` (the bytes) and ``.txt`` (how they were sent, what went wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from tests.fuzz.check import judge
from tests.fuzz.mutate import make_case
from tests.fuzz.runner import Settings, fuzz, main_progress, run_one
from tests.fuzz.target import Deadlines, Problem, ServerThread


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--seed", type=int, default=None, help="the run's seed (default: a random one)")
    add("--cases", type=int, default=None, help="stop after this many cases")
    add("--seconds", type=float, default=None, help="stop after this long")
    add("--first", type=int, default=0, help="index of the first case")
    add("--concurrency", type=int, default=128, help="cases in flight at once")
    add("--head-timeout", type=float, default=1.0)
    add("--body-timeout", type=float, default=1.0)
    add("--keepalive-timeout", type=float, default=1.0)
    add("--slack", type=float, default=3.0, help="seconds past the deadlines before a hang")
    add(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "berth-fuzz",
        help="where failing cases are written (default: %(default)s)",
    )
    add("--uvloop", action="store_true", help="serve on a uvloop loop (as GunicornUVLoopWebWorker)")
    add("--replay", type=int, nargs="+", metavar="INDEX", help="run these cases alone")
    args = parser.parse_args(argv)
    if args.cases is None and args.seconds is None and not args.replay:
        args.cases = 10_000
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    return args


def _replay(args: argparse.Namespace, deadlines: Deadlines) -> int:
    problems: list[Problem] = []
    bound = deadlines.bound(args.slack)
    failed = 0
    with ServerThread(deadlines, problems.append, uvloop=args.uvloop) as server:
        for index in args.replay:
            case = make_case(args.seed, index)
            before = len(problems)
            outcome = asyncio.run(run_one(case, server.port, bound))
            asyncio.run(asyncio.sleep(0.5))  # late log records
            reasons = judge(case.data, outcome, bound, pristine=case.pristine)
            reasons += [f"server {p.source}: {p.text}" for p in problems[before:]]
            failed += bool(reasons)
            print(f"case {index} of seed {args.seed}: {case.origin}, {case.mutations}")
            print(
                f"  pieces {[len(p) for p in case.pieces]}, pause {case.pause}, "
                f"half-close {case.half_close}"
            )
            print(f"  sent: {case.data!r}")
            print(
                f"  received in {outcome.elapsed:.2f} s (closed: {outcome.closed}, "
                f"reset: {outcome.reset}): {outcome.received!r}"
            )
            print(f"  statuses: {outcome.scan.statuses} {outcome.scan.problem}")
            print("  " + ("\n  ".join(f"FAIL: {r}" for r in reasons) if reasons else "ok"))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    deadlines = Deadlines(
        head=args.head_timeout, body=args.body_timeout, keepalive=args.keepalive_timeout
    )
    if args.replay:
        return _replay(args, deadlines)
    settings = Settings(
        seed=args.seed,
        cases=args.cases,
        seconds=args.seconds,
        first=args.first,
        concurrency=args.concurrency,
        deadlines=deadlines,
        slack=args.slack,
        out_dir=args.out / f"seed{args.seed}",
        progress=main_progress,
        uvloop=args.uvloop,
    )
    limit = " and ".join(
        x
        for x in (
            f"{args.cases} cases" if args.cases else "",
            f"{args.seconds:g} s" if args.seconds else "",
        )
        if x
    )
    print(f"fuzzing with seed {args.seed} for {limit}", file=sys.stderr, flush=True)
    report = fuzz(settings)
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Idle, slowloris and slow-body attackers past ``worker_connections``, against real gunicorn:
a legitimate client on fresh connections is still answered, every time and fast, and the
slow attackers are cut within the minimum-rate window (docs/hardening.md).

The short CI version of ``make soak``'s idle-slow scenario, with the same clients.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

from tests.soak.clients import (
    AttackResult,
    LegitResult,
    idle_keepalive,
    legit_gets,
    slow_body,
    slowloris,
)
from tests.workers.harness import Launcher

pytestmark = pytest.mark.slow

APP = "tests.soak.soak_app:create_app"
HOST = "127.0.0.1"
LIMIT = 100
WINDOW = 5.0  # the server's default rate_window


async def run_attack(
    port: int, *, per_kind: int, duration: float, legit_rate: float = 20.0
) -> tuple[LegitResult, list[AttackResult]]:
    """Idle, slowloris and slow-body attackers (a header line or 16 body bytes a second,
    reconnecting whenever the server closes them), and a legitimate client on fresh
    connections once they are all in."""
    attacks = asyncio.gather(
        idle_keepalive(HOST, port, count=per_kind, duration=duration),
        slowloris(HOST, port, count=per_kind, interval=1.0, duration=duration),
        slow_body(HOST, port, count=per_kind, interval=1.0, duration=duration),
    )
    await asyncio.sleep(1.5)
    legit = await legit_gets(HOST, port, rate=legit_rate, duration=duration - 2.5, timeout=5)
    return legit, list(await attacks)


def p99(legit: LegitResult) -> float:
    return statistics.quantiles(legit.latencies(), n=100)[98]


@pytest.mark.timeout(60)
async def test_slow_attackers_are_cut_within_the_window_and_cost_others_nothing(
    gunicorn: Launcher,
) -> None:
    instance = gunicorn("--keep-alive", "60", target=APP).start().wait_ready()
    legit, (idle, loris, body) = await run_attack(instance.port, per_kind=40, duration=9.0)
    assert legit.answered_ratio() == 1.0, legit.details()
    assert p99(legit) < 0.05, f"p99 {p99(legit) * 1000:.1f} ms"
    for slow in (loris, body):
        # Each one had to bring 500 B/s over the 5 s window; 408 when it did not.
        assert slow.closed_by_server >= slow.count, (slow.kind, slow.closed_by_server)
        assert WINDOW - 0.5 < min(slow.lifetimes), (slow.kind, min(slow.lifetimes))
        assert max(slow.lifetimes) < WINDOW + 1.0, (slow.kind, max(slow.lifetimes))
        assert slow.statuses.get(408, 0) >= slow.count
    assert idle.closed_by_server == 0  # below the limit and within keep-alive: left alone
    assert "Traceback" not in instance.stderr


@pytest.mark.timeout(60)
async def test_attackers_past_the_limit_lock_nobody_out(gunicorn: Launcher) -> None:
    instance = gunicorn(
        "--worker-connections", str(LIMIT), "--keep-alive", "60", target=APP
    ).start()
    instance.wait_ready()
    legit, (idle, loris, body) = await run_attack(instance.port, per_kind=60, duration=9.0)
    assert legit.answered_ratio() == 1.0, legit.details()
    assert max(legit.latencies()) < 1.0
    for attackers in (idle, loris, body):  # 180 against 100 slots: room was made
        assert attackers.closed_by_server > 0, attackers.kind
    for slow in (loris, body):
        assert max(slow.lifetimes) < WINDOW + 1.0, (slow.kind, max(slow.lifetimes))
    assert "Traceback" not in instance.stderr

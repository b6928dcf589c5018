"""``middlewares.metrics``: labels by route template, statuses, and the truth under workers.

The unit tests record into a registry of their own through a real test server. The
multiprocess tests run real gunicorn with ``-w 3`` and ``PROMETHEUS_MULTIPROC_DIR``, using
the hooks of the rendered ``deploy/systemd/gunicorn.conf.py``, and check that every scrape,
whichever worker answers it, reads the whole server's count.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import runpy
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from middlewares.metrics import (
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    HttpMetrics,
    metrics_handler,
    metrics_middleware,
)
from runtime import web
from tests.workers.harness import Gunicorn, get, launcher

ROOT = Path(__file__).resolve().parents[2]
RENDERED_CONF = ROOT / "deploy" / "systemd" / "gunicorn.conf.py"
DURATION = "http_server_request_duration_seconds"


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("boom")


async def forbidden(request: web.Request) -> web.Response:
    raise web.HTTPForbidden()


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def a_file(request: web.Request) -> web.FileResponse:
    return web.FileResponse(__file__)


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


def make_app(metrics: HttpMetrics, registry: CollectorRegistry) -> web.Application:
    app = web.Application(middlewares=[metrics_middleware(metrics=metrics)])
    app.router.add_get("/users/{id}", hello)
    app.router.add_get("/boom", boom)
    app.router.add_get("/forbidden", forbidden)
    app.router.add_post("/echo", echo)
    app.router.add_route("*", "/any", hello)
    app.router.add_get("/ws/{room}", ws_echo)
    app.router.add_get("/file", a_file)
    app.router.add_get("/metrics", metrics_handler(registry=registry))
    return app


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(make_client: Any, registry: CollectorRegistry) -> Any:
    async def started() -> Any:
        return await make_client(make_app(HttpMetrics(registry), registry))

    return started


async def settle() -> None:
    """Let the server finish: a file's size is recorded once it has been sent."""
    await asyncio.sleep(0.01)


def count(registry: CollectorRegistry, method: str, route: str, status: str) -> float | None:
    labels = {"http_request_method": method, "http_route": route}
    return registry.get_sample_value(
        f"{DURATION}_count", {**labels, "http_response_status_code": status}
    )


async def test_labels_by_route_template_not_path(client: Any, registry: Any) -> None:
    c = await client()
    for user in ("ada", "bob", "cy"):
        assert (await c.get(f"/users/{user}")).status == 200
    await settle()
    assert count(registry, "GET", "/users/{id}", "200") == 3
    text = (await (await c.get("/metrics")).read()).decode()
    assert "ada" not in text and 'http_route="/users/{id}"' in text


async def test_unmatched_requests_share_one_route_label(client: Any, registry: Any) -> None:
    c = await client()
    for path in ("/nope", "/nope/2", "/users"):
        assert (await c.get(path)).status == 404
    assert (await c.post("/users/ada")).status == 405
    await settle()
    assert count(registry, "GET", UNMATCHED_ROUTE, "404") == 3
    assert count(registry, "POST", UNMATCHED_ROUTE, "405") == 1


async def test_exception_counts_as_500(client: Any, registry: Any) -> None:
    c = await client()
    assert (await c.get("/boom")).status == 500
    await settle()
    assert count(registry, "GET", "/boom", "500") == 1


async def test_http_exception_counts_with_its_status(client: Any, registry: Any) -> None:
    c = await client()
    assert (await c.get("/forbidden")).status == 403
    await settle()
    assert count(registry, "GET", "/forbidden", "403") == 1


async def test_unknown_methods_are_folded(client: Any, registry: Any) -> None:
    c = await client()
    assert (await c.request("PURGE", "/any")).status == 200
    assert (await c.request("PROPFIND", "/any")).status == 200
    assert (await c.request("PATCH", "/any")).status == 200
    await settle()
    assert count(registry, OTHER_METHOD, "/any", "200") == 2
    assert count(registry, "PATCH", "/any", "200") == 1
    assert count(registry, "PURGE", "/any", "200") is None


async def test_body_sizes_and_active_requests(client: Any, registry: Any) -> None:
    c = await client()
    assert (await c.post("/echo", data=b"x" * 100)).status == 200
    await settle()
    labels = {"http_request_method": "POST", "http_route": "/echo"}
    labels["http_response_status_code"] = "200"
    get_value = registry.get_sample_value
    assert get_value("http_server_request_body_size_bytes_sum", labels) == 100
    assert get_value("http_server_response_body_size_bytes_sum", labels) == 100
    assert get_value("http_server_active_requests", {"http_request_method": "POST"}) == 0


async def test_a_file_is_measured_once_sent(client: Any, registry: Any) -> None:
    c = await client()
    body = await (await c.get("/file")).read()
    await settle()
    labels = {"http_request_method": "GET", "http_route": "/file"}
    labels["http_response_status_code"] = "200"
    assert registry.get_sample_value("http_server_response_body_size_bytes_sum", labels) == len(
        body
    )
    head = await c.head("/users/ada")
    assert head.status == 200
    labels.update(http_request_method="HEAD", http_route="/users/{id}")
    assert registry.get_sample_value("http_server_response_body_size_bytes_sum", labels) == 0


async def test_websocket_is_an_open_socket_after_its_101(client: Any, registry: Any) -> None:
    c = await client()
    open_sockets = {"http_route": "/ws/{room}"}
    get_value = registry.get_sample_value
    async with c.ws_connect("/ws/lobby") as ws:
        await ws.send_str("hi")
        assert (await ws.receive()).data == "hi"
        # The handshake is recorded (101) and no longer an active request.
        assert count(registry, "GET", "/ws/{room}", "101") == 1
        assert get_value("http_server_active_requests", {"http_request_method": "GET"}) == 0
        assert get_value("http_server_open_websockets", open_sockets) == 1
    await settle()
    assert get_value("http_server_open_websockets", open_sockets) == 0
    assert count(registry, "GET", "/ws/{room}", "101") == 1


async def ws_binary(request: web.Request) -> web.WebSocketResponse:
    """Receives text, answers twice in binary (``send_bytes``, ``send_frame``), and pings."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_bytes(msg.data.encode())
        await ws.send_frame(b"\x00\x01", web.WSMsgType.BINARY)
        await ws.ping(b"not a message")
    return ws


async def test_websocket_messages_are_counted_by_route_and_direction(
    make_client: Any, registry: CollectorRegistry
) -> None:
    metrics = HttpMetrics(registry)
    app = make_app(metrics, registry)
    app.router.add_get("/bin", ws_binary)
    c = await make_client(app)
    messages = "http_server_websocket_messages_total"
    async with c.ws_connect("/ws/lobby") as ws:
        for text in ("a", "bb", "ccc"):
            await ws.send_str(text)
            assert (await ws.receive()).data == text
        await ws.ping(b"control frames are not messages")
    async with c.ws_connect("/bin") as ws:
        await ws.send_str("é")
        assert (await ws.receive()).data == "é".encode()
        assert (await ws.receive()).data == b"\x00\x01"
    await settle()
    get_value = registry.get_sample_value
    assert get_value(messages, {"http_route": "/ws/{room}", "direction": "received"}) == 3
    assert get_value(messages, {"http_route": "/ws/{room}", "direction": "sent"}) == 3
    assert get_value(messages, {"http_route": "/bin", "direction": "received"}) == 1
    assert get_value(messages, {"http_route": "/bin", "direction": "sent"}) == 2


async def test_handler_content_type_follows_accept(client: Any) -> None:
    c = await client()
    plain = await c.get("/metrics")
    assert plain.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    om = await c.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await om.read()).endswith(b"# EOF\n")


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "middlewares.metrics")
    with pytest.raises(ImportError, match=r"pip install berth\[prometheus\]"):
        importlib.import_module("middlewares.metrics")


def worker_file(directory: Path, kind: str, pid: int, values: dict[str, float]) -> None:
    """A worker's multiprocess file, as prometheus_client writes it: ``values`` by sample
    name (``requests_total``, ``latency_bucket:+Inf``, ``latency_sum``...), route ``/x``."""
    db = MmapedDict(str(directory / f"{kind}_{pid}.db"))  # type: ignore[no-untyped-call]
    for name, value in values.items():
        sample, _, le = name.partition(":")
        metric = sample.rsplit("_", 1)[0]
        labels = {"route": "/x", **({"le": le} if le else {})}
        key = mmap_key(metric, sample, list(labels), list(labels.values()), "h")
        db.write_value(key, value, 0)  # type: ignore[no-untyped-call]
    db.close()  # type: ignore[no-untyped-call]


def collected(directory: Path) -> dict[tuple[str, str], float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_rendered_hooks_fold_dead_workers_and_do_nothing_without_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = runpy.run_path(str(RENDERED_CONF))
    worker = type("Worker", (), {"pid": 12345})()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    hooks["on_starting"](None)
    hooks["child_exit"](None, worker)
    # With it: the directory is made or emptied of .db files, nothing else is touched.
    multiproc = tmp_path / "prometheus"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc))
    hooks["on_starting"](None)
    (multiproc / "README").write_text("mine")
    for pid, n in ((12345, 1.0), (23456, 2.0), (34567, 4.0)):
        worker_file(multiproc, "counter", pid, {"requests_total": n})
        worker_file(multiproc, "histogram", pid, {"latency_bucket:0.1": n, "latency_sum": n})
        worker_file(multiproc, "gauge_livesum", pid, {"active_x": 1})
    before = collected(multiproc)
    # Two workers die: their live gauges go, their counters and histograms are folded into
    # one archive per type, and every total reads as before.
    for pid in (12345, 23456):
        hooks["child_exit"](None, type("Worker", (), {"pid": pid})())
    names = sorted(name for name in os.listdir(multiproc) if name.endswith(".db"))
    assert names == [
        "counter_34567.db",
        "counter_archive.db",
        "gauge_livesum_34567.db",
        "histogram_34567.db",
        "histogram_archive.db",
    ]
    after = collected(multiproc)
    assert after[("requests_total", "")] == 7
    assert after[("latency_count", "")] == 7 and after[("latency_bucket", "0.1")] == 7
    assert after[("active_x", "")] == 1
    del before[("active_x", "")]
    del after[("active_x", "")]
    assert after == before
    hooks["on_starting"](None)
    assert sorted(os.listdir(multiproc)) == [".berth-metrics.lock", "README"]


# -- several workers ------------------------------------------------------------------------

APP_MODULE = """
import os
import runpy
import sys

from middlewares.metrics import metrics_handler, metrics_middleware
from runtime import web

_render = metrics_handler()


async def item(request):
    return web.Response(text=str(os.getpid()))


async def metrics(request):
    response = await _render(request)
    response.headers["X-Worker"] = str(os.getpid())
    return response


def create_app():
    app = web.Application(middlewares=[metrics_middleware()])
    app.router.add_get("/", item)
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/metrics", metrics)
    return app
"""

# The rendered config's own hooks; every other setting comes from the command line.
CONF = f"""
import runpy

_rendered = runpy.run_path({str(RENDERED_CONF)!r})
on_starting = _rendered["on_starting"]
child_exit = _rendered["child_exit"]
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    (tmp_path / "metrics_app.py").write_text(APP_MODULE)
    (tmp_path / "metrics_conf.py").write_text(CONF)
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale")  # wiped by on_starting

    with launcher(tmp_path) as launch:

        def start(*args: str) -> Gunicorn:
            server = launch(
                "-c", str(tmp_path / "metrics_conf.py"), *args, target="metrics_app:create_app"
            )
            return server.start({"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}).wait_ready()

        yield start, multiproc


def hammer(server: Gunicorn, n: int, path: str = "/items/{}") -> set[int]:
    """``n`` GETs of ``/items/{i}``, each on a fresh connection, 6 at a time: the workers
    that answered."""

    def one(i: int) -> int:
        reply = get(server.address, path.format(i))
        assert reply.status == 200
        return int(reply.body)

    with ThreadPoolExecutor(6) as pool:
        return set(pool.map(one, range(n)))


def all_workers_up(server: Gunicorn, workers: int) -> None:
    """Until each worker has answered a ``GET /`` (another route than the one counted)."""
    deadline = time.monotonic() + 15
    seen: set[int] = set()
    while len(seen) < workers:
        assert time.monotonic() < deadline, f"only {len(seen)} workers answered"
        seen |= hammer(server, 12, "/")


def scrapes(server: Gunicorn, n: int = 5) -> list[tuple[float, float, str]]:
    """``n`` scrapes, a moment apart, as Prometheus scrapes (seconds apart): a worker writes
    a request's values at the start of its next loop pass, just after the response left, so
    the pause leaves each worker that pass even on a machine busy with other processes."""
    found = []
    for _ in range(n):
        time.sleep(0.1)
        found.append(scrape(server))
    return found


def scrape(server: Gunicorn) -> tuple[float, float, str]:
    """The route's request count, the active GETs, and the worker that answered."""
    reply = get(server.address, "/metrics")
    assert reply.status == 200
    routed = active = 0.0
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            if sample.name == f"{DURATION}_count" and sample.labels["http_route"] == "/items/{id}":
                routed += sample.value
            if sample.name == "http_server_active_requests":
                active += sample.value
    return routed, active, reply.headers["X-Worker"]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_three_workers_every_scrape_reads_the_whole_count(served: Any) -> None:
    start, multiproc = served
    server = start("-w", "3")
    all_workers_up(server, 3)
    assert not (multiproc / "counter_999999.db").exists()
    workers = hammer(server, 300)
    assert len(workers) >= 2, "the requests should have been spread over the workers"
    found = scrapes(server)
    # The scrape itself is the one active request; the route reads 300 in every scrape.
    assert [(routed, active) for routed, active, _ in found] == [(300, 1)] * 5, found


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_workers_restarted_by_max_requests_lose_no_counts(served: Any) -> None:
    start, multiproc = served
    server = start("-w", "2", "--max-requests", "40")
    first = set(server.worker_pids())
    # Scraped all along: a fold (dead files into the archives) is never seen halfway, so
    # the count never jumps past what was answered, nor goes backwards.
    seen: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def scraping() -> None:
        try:
            while not stop.is_set():
                seen.append(scrape(server)[0])
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    scraper = threading.Thread(target=scraping)
    scraper.start()
    try:
        workers = hammer(server, 300)
    finally:
        stop.set()
        scraper.join()
    assert not failures, failures
    assert len(workers) > 2, "max_requests should have restarted workers"
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] <= 300, seen
    found = scrapes(server)
    assert [(routed, active) for routed, active, _ in found] == [(300, 1)] * 5, found
    # Dead workers' files are gone: live gauges with mark_process_dead, counters and
    # histograms folded into the archive. The directory holds the live workers' files only.
    dead = first - set(server.worker_pids())
    assert dead
    # gunicorn calls child_exit just after reaping a worker: give the last fold its moment.
    deadline = time.monotonic() + 10
    while True:
        live = set(server.worker_pids())
        files = sorted(name for name in os.listdir(multiproc) if name.endswith(".db"))
        live |= set(server.worker_pids())
        owners = {name.rsplit("_", 1)[1].removesuffix(".db") for name in files}
        if owners <= {str(pid) for pid in live} | {"archive"} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in dead - live:
        assert f"histogram_{pid}.db" not in files and f"gauge_livesum_{pid}.db" not in files
    assert "histogram_archive.db" in files
    assert owners <= {str(pid) for pid in live} | {"archive"}, files


def test_a_scrape_waits_out_a_worker_creating_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker that max_requests just started creates its file empty, then writes it: a
    # scrape reading in between once answered 500 (CI saw it under gunicorn).
    from middlewares import metrics

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    path = tmp_path / "counter_4242.db"
    path.write_bytes(b"")  # created, not yet written

    def starts_up() -> None:
        time.sleep(0.02)
        MmapedDict(str(path)).close()  # prometheus_client writes its header

    worker = threading.Thread(target=starts_up)
    worker.start()
    try:
        body, _ = metrics._render(None, "")
    finally:
        worker.join()
    assert isinstance(body, bytes)

"""gunicorn's access log format, StatsD request metrics, pre_request/post_request hooks.

Checklist rows (docs/gunicorn-worker.md): 27, 28, 29.
"""

from __future__ import annotations

import base64
import socket
import time

import pytest

from tests.workers.harness import HOOKS, Launcher, get, raw_exchange, status_of, wait_for

pytestmark = pytest.mark.slow

ATOMS = "h l u r s m U q H b B f a T D M L p {x-test}i {content-type}o {raw_uri}e".split()
FORMAT = "|".join(f"%({atom})s" for atom in ATOMS)


def test_row27_access_log_format_with_gunicorn_atoms(gunicorn: Launcher) -> None:
    instance = gunicorn("--access-logfile", "-", "--access-logformat", FORMAT).start()
    instance.wait_ready()
    headers = {
        "Referer": "http://example.test/from",
        "User-Agent": "agent/1.0",
        "X-Test": "hello",
        "Authorization": "Basic " + base64.b64encode(b"alice:secret").decode(),
    }
    reply = get(instance.address, "/info?x=1", headers)
    pid = reply.json()["pid"]
    wait_for(lambda: "/info?x=1" in instance.stdout, 5, "the access line")
    line = next(line for line in instance.stdout.splitlines() if "/info?x=1" in line)
    values = dict(zip(ATOMS, line.split("|"), strict=True))
    size = reply.headers["content-length"]
    assert values == {
        **values,
        "h": "127.0.0.1",
        "l": "-",
        "u": "alice",
        "r": "GET /info?x=1 HTTP/1.1",
        "s": "200",
        "m": "GET",
        "U": "/info",
        "q": "x=1",
        "H": "HTTP/1.1",
        "b": size,
        "B": size,
        "f": "http://example.test/from",
        "a": "agent/1.0",
        "T": "0",
        "p": f"<{pid}>",
        "{x-test}i": "hello",
        "{content-type}o": "application/json; charset=utf-8",
        "{raw_uri}e": "/info?x=1",
    }
    assert int(values["D"]) >= 0 and int(values["M"]) >= 0
    assert values["L"].startswith("0.")


def test_row28_statsd_request_metrics_without_an_access_log(gunicorn: Launcher) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(0.2)
        port = statsd.getsockname()[1]
        instance = gunicorn("--statsd-host", f"127.0.0.1:{port}").start().wait_ready()
        get(instance.address, "/info")
        get(instance.address, "/missing")
        received: list[str] = []
        deadline = time.monotonic() + 5
        while "gunicorn.request.status.404:1|c|@1.0" not in received:
            assert time.monotonic() < deadline, received
            try:
                received += statsd.recv(4096).decode().splitlines()
            except TimeoutError:
                pass
    assert received.count("gunicorn.requests:1|c|@1.0") == 3  # wait_ready's, /info, /missing
    assert received.count("gunicorn.request.status.200:1|c|@1.0") == 2
    assert "gunicorn.request.status.404:1|c|@1.0" in received
    assert any(m.startswith("gunicorn.request.duration:") and m.endswith("|ms") for m in received)


REFUSED = {
    400: b"GET /bad HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    414: b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    431: b"GET /many HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 10 + b"\r\n",
    505: b"GET /three HTTP/3.0\r\nHost: x\r\n\r\n",
}


def test_requests_refused_before_the_handler_reach_log_access_and_post_request(
    gunicorn: Launcher,
) -> None:
    # docs/gunicorn-worker.md, "Requests refused before the handler".
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(0.2)
        port = statsd.getsockname()[1]
        instance = gunicorn(
            "-c",
            HOOKS,
            "--statsd-host",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            "--access-logformat",
            "ACCESS %(h)s|%(r)s|%(s)s|%({raw_uri}e)s",
            "--limit-request-line",
            "200",
            "--limit-request-fields",
            "5",
        ).start()
        instance.wait_ready()
        for status, request in REFUSED.items():
            assert status_of(raw_exchange(instance.address, request)) == status
        received: list[str] = []
        deadline = time.monotonic() + 5
        while not all(f"gunicorn.request.status.{s}:1|c|@1.0" in received for s in REFUSED):
            assert time.monotonic() < deadline, received
            try:
                received += statsd.recv(4096).decode().splitlines()
            except TimeoutError:
                pass
    wait_for(lambda: instance.stdout.count("|GET  HTTP/1.1|") == 4, 5, "the access lines")
    # Nothing of a refused head is kept: the line shows a placeholder, the peer's address.
    refused = [line for line in instance.stdout.splitlines() if "|GET  HTTP/1.1|" in line]
    assert refused == [f"ACCESS 127.0.0.1|GET  HTTP/1.1|{status}|" for status in REFUSED]
    err = instance.stderr
    for status in REFUSED:
        assert f"HOOK post_request  {status} " in err  # an empty RAW_URI
    assert err.count("HOOK pre_request") == 1  # wait_ready's request only


def test_row29_pre_request_and_post_request_hooks(gunicorn: Launcher) -> None:
    instance = gunicorn("-c", HOOKS).start().wait_ready()
    get(instance.address, "/info?q=2")
    wait_for(lambda: "HOOK post_request /info?q=2" in instance.stderr, 5, "post_request")
    err = instance.stderr
    assert "HOOK pre_request GET /info" in err
    assert "HOOK post_request /info?q=2 200 OK" in err
    assert err.index("HOOK pre_request GET /info") < err.index("HOOK post_request /info?q=2")


def test_handler_errors_reach_gunicorns_error_log(gunicorn: Launcher) -> None:
    instance = gunicorn().start().wait_ready()
    assert get(instance.address, "/error").status == 500
    wait_for(lambda: "handler failed on purpose" in instance.stderr, 5, "the traceback")
    line = next(line for line in instance.stderr.splitlines() if "Error handling request" in line)
    assert "[ERROR] Error handling request from 127.0.0.1" in line  # gunicorn's format

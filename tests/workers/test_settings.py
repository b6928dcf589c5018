"""gunicorn settings applied per connection: forwarded headers, header_map, PROXY protocol,
request limits, keepalive, TLS (worker_connections: test_connection_limit.py).

Checklist rows (docs/gunicorn-worker.md): 19, 20, 21, 22, 25, 26.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from tests.workers.harness import (
    HOOKS,
    UVLOOP_WORKER,
    WORKER,
    Address,
    Gunicorn,
    Launcher,
    connect,
    get,
    raw_exchange,
    read_reply,
    status_of,
    wait_for,
)

pytestmark = pytest.mark.slow

XFF = {"X-Forwarded-For": "203.0.113.7, 10.1.2.3", "X-Forwarded-Proto": "https"}


def test_row19_forwarded_headers_are_trusted_only_from_allowed_peers(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    unix = str(tmp_path / "g.sock")
    trusting = gunicorn("--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8").start()
    untrusting = gunicorn(
        "-b", "127.0.0.1:{port}", "-b", f"unix:{unix}", "--forwarded-allow-ips", "10.0.0.0/8"
    ).start()
    anyone = gunicorn("--forwarded-allow-ips", "*").start()
    for instance in (trusting, untrusting, anyone):
        instance.wait_ready()

    # From a trusted peer: the nearest untrusted hop is the client (10.1.2.3 is a proxy of ours).
    info = get(trusting.address, "/info", XFF).json()
    assert (info["remote"], info["scheme"], info["secure"]) == ("203.0.113.7", "https", True)
    plain = get(trusting.address, "/info", {"X-Forwarded-Proto": "http"}).json()
    assert (plain["remote"], plain["scheme"], plain["secure"]) == ("127.0.0.1", "http", False)
    # Contradicting secure_scheme_headers (gunicorn's defaults): 400.
    conflict = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"}
    assert get(trusting.address, "/info", conflict).status == 400

    # From a peer outside forwarded_allow_ips: ignored, including the conflict.
    info = get(untrusting.address, "/info", XFF).json()
    assert (info["remote"], info["scheme"], info["secure"]) == ("127.0.0.1", "http", False)
    assert get(untrusting.address, "/info", conflict).status == 200
    # A unix socket peer is always trusted (and so is 10.1.2.3 here).
    info = get(unix, "/info", XFF).json()
    assert (info["remote"], info["scheme"]) == ("203.0.113.7", "https")
    info = get(unix, "/info", {"X-Forwarded-For": "203.0.113.7, 192.0.2.1"}).json()
    assert info["remote"] == "192.0.2.1"  # the nearest hop we do not trust

    # '*': every hop is trusted, so the leftmost is the client.
    assert get(anyone.address, "/info", XFF).json()["remote"] == "203.0.113.7"


# What the access log sees of the headers: the environ's keys and the request's own names.
HEADER_LOG = (
    "%({raw_uri}e)s|%({http_x_forwarded_for}e)s|%({x_forwarded_for}i)s|%({http_script_name}e)s"
)
SMUGGLED = {"X-Forwarded-For": "203.0.113.7", "X_Forwarded_For": "127.0.0.1", "X-Plain": "1"}


def logged(instance: Gunicorn, target: str) -> list[str]:
    """The HEADER_LOG fields after the target in the access line of ``target``."""
    wait_for(lambda: f"{target}|" in instance.stdout, 5, f"the access line of {target}")
    line = next(line for line in instance.stdout.splitlines() if line.startswith(f"{target}|"))
    return line.split("|")[1:]


def header_names(address: Address, path: str, headers: dict[str, str]) -> set[str]:
    reply = get(address, path, headers)
    assert reply.status == 200, reply
    return {name for name, _ in reply.json()}


def test_row20_header_map_and_forwarder_headers_as_gunicorn_does(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    unix = str(tmp_path / "g.sock")
    log = ("--access-logfile", "-", "--access-logformat", HEADER_LOG)
    drop = gunicorn(
        "-b",
        "127.0.0.1:{port}",
        "-b",
        f"unix:{unix}",
        "--forwarded-allow-ips",
        "10.0.0.0/8",
        *log,
    ).start()
    refuse = gunicorn("--header-map", "refuse", "-c", HOOKS).start()  # 127.0.0.1 is trusted
    dangerous = gunicorn("--header-map", "dangerous", *log).start()
    for instance in (drop, refuse, dangerous):
        instance.wait_ready()

    # drop (the default): a name with '_' is gone for the application and for the log, and
    # the environ's HTTP_X_FORWARDED_FOR is the dashed header alone.
    forwarded = {**SMUGGLED, "SCRIPT_NAME": "/mount", "path_info": "/p"}
    names = header_names(drop.address, "/headers?tcp", forwarded)
    assert {"X-Forwarded-For", "X-Plain"} <= names
    assert not any("_" in name for name in names)
    assert logged(drop, "/headers?tcp") == ["203.0.113.7", "-", "-"]
    # forwarder_headers (SCRIPT_NAME,PATH_INFO, compared upper-cased) from a trusted peer (a
    # unix socket) are kept; other names with '_' are still dropped.
    names = header_names(unix, "/headers?unix", forwarded)
    assert {"SCRIPT_NAME", "path_info", "X-Forwarded-For"} <= names
    assert "X_Forwarded_For" not in names
    # Kept, but never under an environ key another name would share.
    assert logged(drop, "/headers?unix") == ["203.0.113.7", "-", "-"]

    # refuse: 400 with the name, before pre_request; a trusted forwarder header passes.
    reply = get(refuse.address, "/refused", SMUGGLED)
    assert reply.status == 400
    assert "Invalid HTTP header name: 'X_Forwarded_For'" in reply.text
    assert get(refuse.address, "/info", {"SCRIPT_NAME": "/mount"}).status == 200
    wait_for(lambda: "HOOK post_request /refused 400" in refuse.stderr, 5, "post_request")
    assert "HOOK pre_request GET /refused" not in refuse.stderr

    # dangerous: kept under its own name, and still not folded into the environ.
    names = header_names(dangerous.address, "/headers", SMUGGLED)
    assert {"X-Forwarded-For", "X_Forwarded_For"} <= names
    assert logged(dangerous, "/headers") == ["203.0.113.7", "127.0.0.1", "-"]


def proxy_v2(client: tuple[str, int], server: tuple[str, int]) -> bytes:
    block = socket.inet_aton(client[0]) + socket.inet_aton(server[0])
    block += struct.pack("!HH", client[1], server[1])
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


REQUEST = b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("worker", [WORKER, UVLOOP_WORKER])
def test_row21_proxy_protocol_v1_and_v2_gated_by_proxy_allow_ips(
    gunicorn: Launcher, worker: str
) -> None:
    auto = gunicorn("--proxy-protocol", "auto", worker=worker).start()
    v1_only = gunicorn("--proxy-protocol", "v1", worker=worker).start()
    refusing = gunicorn(
        "--proxy-protocol", "v2", "--proxy-allow-from", "10.0.0.0/8", worker=worker
    ).start()
    for instance in (auto, v1_only, refusing):
        instance.wait_ready()  # a request without a header is served: the header is optional

    v1 = b"PROXY TCP4 198.51.100.4 10.0.0.1 40000 80\r\n"
    v2 = proxy_v2(("198.51.100.5", 40001), ("10.0.0.1", 80))
    for instance, header, remote in (
        (auto, v1, "198.51.100.4"),
        (auto, v2, "198.51.100.5"),
        (v1_only, v1, "198.51.100.4"),
    ):
        reply = raw_exchange(instance.address, header + REQUEST)
        assert status_of(reply) == 200, reply
        assert f'"remote": "{remote}"'.encode() in reply
    # The header goes byte by byte too.
    with socket.create_connection(auto.address, timeout=5) as sock:  # type: ignore[arg-type]
        for byte in v2 + REQUEST:
            sock.send(bytes([byte]))
        assert b'"remote": "198.51.100.5"' in sock.makefile("rb").read()
    # A version the mode does not accept is not a PROXY header: HTTP refuses the bytes.
    assert status_of(raw_exchange(v1_only.address, v2 + REQUEST)) == 400
    # A peer outside proxy_allow_ips may not send one; a broken header is a 400.
    assert status_of(raw_exchange(refusing.address, v2 + REQUEST)) == 403
    broken = b"PROXY TCP4 198.51.100.4 10.0.0.1 99999 80\r\n"
    assert status_of(raw_exchange(auto.address, broken + REQUEST)) == 400


def test_row22_row25_request_limits_and_keepalive(gunicorn: Launcher) -> None:
    limited = gunicorn(
        "--limit-request-line",
        "200",
        "--limit-request-fields",
        "5",
        "--limit-request-field_size",
        "100",
        "--keep-alive",
        "1",
    ).start()
    unlimited = gunicorn("--limit-request-line", "0").start()
    limited.wait_ready(), unlimited.wait_ready()

    def status(path: str, headers: str = "") -> int:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
        return status_of(raw_exchange(limited.address, request.encode()))

    assert status("/" + "a" * 150) == 404
    assert status("/" + "a" * 250) == 414
    assert status("/", "".join(f"X-{i}: 1\r\n" for i in range(3))) == 200
    assert status("/", "".join(f"X-{i}: 1\r\n" for i in range(6))) == 431
    assert status("/", f"X-Big: {'b' * 120}\r\n") == 431
    assert get(unlimited.address, "/" + "a" * 20000).status == 404  # 0: no line limit

    conn = connect(limited.address)
    conn.request("GET", "/")
    assert read_reply(conn).status == 200
    assert conn.sock is not None
    began = time.monotonic()
    assert conn.sock.recv(1) == b""  # keepalive=1: the idle connection closes after 1 s
    assert 0.7 < time.monotonic() - began < 2.5
    conn.close()


def test_row26_tls_through_gunicorn_ssl_context_and_its_hook(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    instance = gunicorn("-c", HOOKS, "--certfile", str(cert), "--keyfile", str(key)).start()
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    context.set_alpn_protocols(["berth-test", "http/1.1"])
    deadline = time.monotonic() + 15
    while True:
        conn = http.client.HTTPSConnection("127.0.0.1", instance.port, context=context, timeout=5)
        try:
            conn.request("GET", "/info")
            break
        except OSError:
            conn.close()
            assert time.monotonic() < deadline, instance.stderr
            time.sleep(0.1)
    info = read_reply(conn).json()
    assert (info["scheme"], info["secure"]) == ("https", True)
    assert conn.sock is not None
    assert conn.sock.selected_alpn_protocol() == "berth-test"  # set by the ssl_context hook
    conn.close()

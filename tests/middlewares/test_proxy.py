"""``middlewares.proxy``: strict forwarding headers, allowed hosts, HTTPS redirect and HSTS.

Peers come from 127.0.0.1 (the "proxy") and 127.0.0.2 (a client reaching the app directly),
so trust is decided on real socket addresses.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from middlewares.proxy import (
    _Chain,
    _ip,
    _split_host,
    allowed_hosts_middleware,
    forwarded_middleware,
    https_middleware,
    x_forwarded_middleware,
)
from runtime import web
from tests.support import Connection, Headers, Reply, fetch, serve

PROXY = "127.0.0.1"
DIRECT = "127.0.0.2"


async def echo(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
            "secure": request.secure,
            "url": str(request.url),
        }
    )


async def missing(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


def make_app(*middlewares: Any) -> web.Application:
    app = web.Application(middlewares=list(middlewares))
    app.router.add_route("*", "/", echo)
    app.router.add_route("*", "/a/b", echo)
    app.router.add_get("/healthz", echo)
    app.router.add_get("/.well-known/acme-challenge/{token}", echo)
    app.router.add_get("/missing", missing)
    return app


async def call(
    middleware: Any,
    headers: Headers = (),
    *,
    source: str = PROXY,
    target: str = "/",
    host: str | None = "localhost",
    method: str = "GET",
) -> Reply:
    async with serve(make_app(middleware)) as port:
        return await fetch(port, method, target, headers, source=source, host=host)


def seen(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    result: dict[str, Any] = json.loads(reply.body)
    return result


ONE_HOP = [{PROXY}]
TWO_HOPS = [{PROXY}, {"10.0.0.0/8"}]


# -- X-Forwarded-* -------------------------------------------------------------------------


async def test_x_forwarded_from_the_trusted_proxy_is_applied() -> None:
    reply = await call(
        x_forwarded_middleware(ONE_HOP),
        [
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "HTTPS"),
            ("X-Forwarded-Host", "shop.example.com"),
        ],
    )
    assert seen(reply) == {
        "remote": "203.0.113.9",
        "scheme": "https",
        "host": "shop.example.com",
        "secure": True,
        "url": "https://shop.example.com/",
    }


async def test_spoofed_x_forwarded_from_an_untrusted_peer_is_ignored() -> None:
    reply = await call(
        x_forwarded_middleware(ONE_HOP),
        [
            ("X-Forwarded-For", "198.51.100.66"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ],
        source=DIRECT,
    )
    assert seen(reply) == {
        "remote": DIRECT,
        "scheme": "http",
        "host": "localhost",
        "secure": False,
        "url": "http://localhost/",
    }


async def test_two_trusted_hops() -> None:
    middleware = x_forwarded_middleware(TWO_HOPS)
    good = await call(middleware, [("X-Forwarded-For", "203.0.113.9, 10.1.2.3")])
    assert seen(good)["remote"] == "203.0.113.9"
    # RFC 9110 5.3: two field lines are the same list as one line with a comma.
    split = await call(
        middleware, [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "10.1.2.3")]
    )
    assert seen(split)["remote"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("chain", "headers", "reason"),
    [
        (ONE_HOP, [("X-Forwarded-For", "198.51.100.66, 203.0.113.9")], "2 forwarded"),
        (ONE_HOP, [], "0 forwarded"),
        (TWO_HOPS, [("X-Forwarded-For", "203.0.113.9")], "1 forwarded"),
        (TWO_HOPS, [("X-Forwarded-For", "203.0.113.9, 198.51.100.1")], "hop 2"),
        (ONE_HOP, [("X-Forwarded-For", "not-an-ip")], "other than IP"),
        (ONE_HOP, [("X-Forwarded-For", "203.0.113.9:4711")], "other than IP"),
        (ONE_HOP, [("X-Forwarded-For", "")], "other than IP"),
        (TWO_HOPS, [("X-Forwarded-For", "203.0.113.9,,10.1.2.3")], "other than IP"),
        (ONE_HOP, [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "ftp")], "scheme"),
        (
            ONE_HOP,
            [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https, http")],
            "more X-Forwarded",
        ),
        (
            ONE_HOP,
            [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Host", "evil.example/x")],
            "forwarded host",
        ),
        (
            ONE_HOP,
            [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Host", "a@evil.example")],
            "forwarded host",
        ),
        (
            ONE_HOP,
            [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Host", "example.com:99999")],
            "forwarded host",
        ),
    ],
)
async def test_x_forwarded_violations(chain: Any, headers: Headers, reason: str) -> None:
    reply = await call(x_forwarded_middleware(chain), headers)
    assert reply.status == 400
    assert reason in reply.text


async def test_exempt_paths_skip_the_strict_check() -> None:
    middleware = x_forwarded_middleware(ONE_HOP, exempt=["/healthz"])
    health = await call(middleware, target="/healthz")
    assert seen(health)["remote"] == PROXY
    other = await call(middleware, target="/")
    assert other.status == 400


async def test_unix_socket_peers_are_trusted_by_default(tmp_path: Path) -> None:
    for trust, expected in ((True, "203.0.113.9"), (False, "")):
        path = str(tmp_path / f"app-{trust}.sock")
        app = make_app(x_forwarded_middleware(ONE_HOP, trust_unix_socket=trust))
        async with serve(app, unix_path=path):
            conn = await Connection.open_unix(path)
            reply = await conn.request("GET", "/", [("X-Forwarded-For", "203.0.113.9")])
            await conn.close()
        assert seen(reply)["remote"] == expected


# -- Forwarded (RFC 7239) --------------------------------------------------------------------


async def test_forwarded_from_the_trusted_proxy_is_applied() -> None:
    reply = await call(
        forwarded_middleware(ONE_HOP),
        [("Forwarded", 'for=203.0.113.9;proto=https;host="shop.example.com:8443"')],
    )
    assert seen(reply) == {
        "remote": "203.0.113.9",
        "scheme": "https",
        "host": "shop.example.com:8443",
        "secure": True,
        "url": "https://shop.example.com:8443/",
    }


@pytest.mark.parametrize(
    ("node", "remote"),
    [
        ('"[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ('"203.0.113.9:4711"', "203.0.113.9"),
        ("unknown", "unknown"),
        ("_hidden-client", "_hidden-client"),
    ],
)
async def test_forwarded_client_nodes(node: str, remote: str) -> None:
    reply = await call(forwarded_middleware(ONE_HOP), [("Forwarded", f"for={node}")])
    assert seen(reply)["remote"] == remote


async def test_forwarded_two_hops_take_scheme_and_host_from_the_outermost() -> None:
    reply = await call(
        forwarded_middleware(TWO_HOPS),
        [("Forwarded", "for=203.0.113.9;proto=https;host=example.com, for=10.1.2.3;proto=http")],
    )
    assert seen(reply) == {
        "remote": "203.0.113.9",
        "scheme": "https",
        "host": "example.com",
        "secure": True,
        "url": "https://example.com/",
    }


async def test_spoofed_forwarded_from_an_untrusted_peer_is_ignored() -> None:
    reply = await call(
        forwarded_middleware(ONE_HOP),
        [("Forwarded", "for=198.51.100.66;proto=https;host=evil.example")],
        source=DIRECT,
    )
    assert seen(reply)["remote"] == DIRECT
    assert seen(reply)["scheme"] == "http"


@pytest.mark.parametrize(
    ("chain", "value", "reason"),
    [
        (ONE_HOP, "for=203.0.113.9;;proto=http", "malformed"),
        (ONE_HOP, "for=203.0.113.9 garbage", "malformed"),
        (ONE_HOP, 'for="203.0.113.9', "malformed"),
        (ONE_HOP, "=203.0.113.9", "malformed"),
        (ONE_HOP, "for=203.0.113.9,", "malformed"),
        (ONE_HOP, "for", "malformed"),
        (ONE_HOP, "for=198.51.100.66, for=203.0.113.9", "2 forwarded"),
        (TWO_HOPS, "for=203.0.113.9", "1 forwarded"),
        (TWO_HOPS, "for=203.0.113.9, for=198.51.100.1", "hop 2"),
        (TWO_HOPS, "for=203.0.113.9, for=unknown", "hop 2"),
        (ONE_HOP, "proto=https", "no for="),
        (ONE_HOP, "for=999.1.1.1", "valid IP"),
        (ONE_HOP, 'for="2001:db8::1"', "not a node"),
        (ONE_HOP, "for=203.0.113.9;proto=gopher", "scheme"),
        (ONE_HOP, 'for=203.0.113.9;host="evil.example/path"', "forwarded host"),
    ],
)
async def test_forwarded_violations(chain: Any, value: str, reason: str) -> None:
    reply = await call(forwarded_middleware(chain), [("Forwarded", value)])
    assert reply.status == 400
    assert reason in reply.text


async def test_forwarded_without_a_header_from_the_proxy_is_400() -> None:
    reply = await call(forwarded_middleware(ONE_HOP))
    assert reply.status == 400


# -- chain configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "error"),
    [
        ("127.0.0.1", TypeError),
        (["127.0.0.1"], TypeError),
        ([{"not-an-address"}], ValueError),
        ([{"10.0.0.1/8"}], ValueError),  # host bits set: probably a typo
        ([], ValueError),
        ([set()], ValueError),
    ],
)
def test_bad_trusted_chains_are_refused(trusted: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        x_forwarded_middleware(trusted)


def test_addresses_compare_across_ip_versions_and_mapped_forms() -> None:
    chain = _Chain([{"10.0.0.0/8", "2001:db8::/32", ip_address("192.0.2.1")}], True)
    assert chain.peer_is_proxy("10.9.8.7")
    assert chain.peer_is_proxy("::ffff:10.9.8.7")  # a dual-stack socket's IPv4 peer
    assert chain.peer_is_proxy("2001:db8::5")
    assert chain.peer_is_proxy("192.0.2.1")
    assert not chain.peer_is_proxy("192.0.2.2")
    assert chain.peer_is_proxy("") and chain.peer_is_proxy(None)  # unix sockets
    assert _ip("::ffff:192.0.2.1") == ip_address("192.0.2.1")


# -- allowed hosts ---------------------------------------------------------------------------


HOSTS = ["example.com", "*.example.org", "[::1]", "192.0.2.10"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 200),
        ("EXAMPLE.com:8080", 200),
        ("example.com.", 200),
        ("api.example.org", 200),
        ("a.b.example.org", 200),
        ("[::1]:8080", 200),
        ("192.0.2.10", 200),
        ("example.org", 400),  # the wildcard is for subdomains only
        ("badexample.org", 400),
        ("example.com.evil.net", 400),
        ("evil.net", 400),
    ],
)
async def test_allowed_hosts(host: str, status: int) -> None:
    reply = await call(allowed_hosts_middleware(HOSTS), host=host)
    assert reply.status == status
    if status == 400:
        assert reply.text == "400 Bad Request: unknown host\n"


@pytest.mark.parametrize(
    "host", ["example.com/x", "example.com@evil.net", "example.com:http", "[::1"]
)
async def test_malformed_hosts_never_reach_the_middleware(host: str) -> None:
    # RFC 9112 3.2: the parser refuses an invalid Host itself; the middleware's own syntax
    # check is for hosts that come from X-Forwarded-Host or Forwarded (tested above).
    reply = await call(allowed_hosts_middleware(["*"]), host=host)
    assert reply.status == 400


async def test_allowed_hosts_exempt_paths_and_star() -> None:
    exempt = allowed_hosts_middleware(HOSTS, exempt=["/healthz"])
    assert (await call(exempt, host="10.0.0.5", target="/healthz")).status == 200
    assert (await call(exempt, host="10.0.0.5", target="/")).status == 400
    anything = allowed_hosts_middleware(["*"])
    assert (await call(anything, host="whatever.test")).status == 200


async def test_allowed_hosts_checks_the_forwarded_host() -> None:
    async with serve(
        make_app(x_forwarded_middleware(ONE_HOP), allowed_hosts_middleware(["example.com"]))
    ) as port:
        headers = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Host", "evil.example")]
        spoofed = await fetch(port, "GET", "/", headers, host="example.com")
        headers[1] = ("X-Forwarded-Host", "example.com")
        good = await fetch(port, "GET", "/", headers, host="internal:8080")
    assert (spoofed.status, good.status) == (400, 200)


@pytest.mark.parametrize(
    "pattern", ["", "*.", "a b", "example.com:80", "**.example.com", "ex/ample"]
)
def test_bad_host_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a host name"):
        allowed_hosts_middleware([pattern])


def test_split_host() -> None:
    assert _split_host("Example.COM.:443") == ("example.com", 443)
    assert _split_host("[2001:DB8::1]:80") == ("[2001:db8::1]", 80)
    assert _split_host("[zz::1]") is None
    assert _split_host("exa mple.com") is None
    assert _split_host("") is None


# -- HTTPS redirect and HSTS -------------------------------------------------------------------


async def test_plain_http_is_redirected_with_308_and_no_hsts() -> None:
    reply = await call(https_middleware(), target="/a/b?x=1&y=%20", host="example.com:8080")
    assert reply.status == 308
    assert reply.headers["Location"] == "https://example.com/a/b?x=1&y=%20"
    assert "Strict-Transport-Security" not in reply.headers  # RFC 6797 7.2


async def test_redirect_options() -> None:
    moved = await call(https_middleware(redirect_status=301, https_port=8443), method="POST")
    assert (moved.status, moved.headers["Location"]) == (301, "https://localhost:8443/")
    at_443 = await call(https_middleware(https_port=443), host="[::1]:80")
    assert at_443.headers["Location"] == "https://[::1]/"
    # The parser refuses an invalid Host before any middleware (RFC 9112 3.2).
    bad_host = await call(https_middleware(), host="evil.example/x")
    assert bad_host.status == 400


async def test_exempt_paths_and_disabled_redirect_pass_plain_http() -> None:
    acme = https_middleware(exempt=["/.well-known/acme-challenge/*"])
    reply = await call(acme, target="/.well-known/acme-challenge/tok3n")
    assert reply.status == 200 and "Strict-Transport-Security" not in reply.headers
    only_hsts = await call(https_middleware(redirect=False))
    assert only_hsts.status == 200 and "Strict-Transport-Security" not in only_hsts.headers


SECURE_VIA_PROXY = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")]


async def test_secure_responses_get_hsts() -> None:
    async with serve(
        make_app(
            x_forwarded_middleware(ONE_HOP),
            https_middleware(hsts_max_age=63072000, include_subdomains=True, preload=True),
        )
    ) as port:
        ok = await fetch(port, "GET", "/", SECURE_VIA_PROXY)
        error = await fetch(port, "GET", "/missing", SECURE_VIA_PROXY)
        spoofed = await fetch(port, "GET", "/", SECURE_VIA_PROXY, source=DIRECT)
    value = "max-age=63072000; includeSubDomains; preload"
    assert (ok.status, ok.headers["Strict-Transport-Security"]) == (200, value)
    assert (error.status, error.headers["Strict-Transport-Security"]) == (404, value)
    assert spoofed.status == 308  # an untrusted X-Forwarded-Proto does not make it secure


async def test_hsts_can_be_turned_off() -> None:
    async with serve(
        make_app(x_forwarded_middleware(ONE_HOP), https_middleware(hsts_max_age=None))
    ) as port:
        reply = await fetch(port, "GET", "/", SECURE_VIA_PROXY)
    assert reply.status == 200 and "Strict-Transport-Security" not in reply.headers


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"redirect_status": 303}, "redirect_status"),
        ({"hsts_max_age": -1}, ">= 0"),
        ({"preload": True, "include_subdomains": True, "hsts_max_age": 86400}, "preload"),
        ({"preload": True}, "preload"),
    ],
)
def test_bad_https_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        https_middleware(**options)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_a_real_tls_connection_is_secure_and_gets_hsts(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, client = tls
    async with serve(make_app(https_middleware()), ssl_context=server) as port:
        reply = await fetch(port, "GET", "/", tls=client)
    assert seen(reply)["secure"] is True
    assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"

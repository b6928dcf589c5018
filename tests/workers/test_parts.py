"""The worker's parts without gunicorn processes: trust rules, the PROXY gate, timings,
limits and the access-log adapter."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from runtime.http.forwarded import AllowList, Forwarded, ForwardedTrust, HeaderNamePolicy
from runtime.http.message import HttpVersion11, RequestMessage
from runtime.server.streams import EMPTY_PAYLOAD
from runtime.web.request import BaseRequest
from runtime.workers.access import AccessResponse, build_environ
from runtime.workers.adapter import limits_from_config
from runtime.workers.header_map import header_name_policy
from runtime.workers.heartbeat import heartbeat_interval
from runtime.workers.proxy_gate import ProxyProtocolGate
from runtime.workers.shutdown import ShutdownTiming
from tests.http.fakes import FakeTransport

SECURE = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}


def raw(**headers: str) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.replace("_", "-").encode(), v.encode()) for k, v in headers.items())


class TestAllowList:
    def test_addresses_networks_and_star(self) -> None:
        allow = AllowList(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"])
        assert allow.allows_address("127.0.0.1")
        assert allow.allows_address("10.200.3.4")
        assert allow.allows_address("2001:db8::7")
        assert allow.allows_address("fe80::1%eth0") is False
        assert not allow.allows_address("127.0.0.2")
        assert not allow.allows_address("not an address")
        assert AllowList(["*"]).allows_address("not an address")

    def test_unix_peers_are_trusted(self) -> None:
        allow = AllowList([])
        assert allow.allows_peer("")
        assert allow.allows_peer(None)
        assert not allow.allows_peer(("127.0.0.1", 5000))

    def test_uses_gunicorns_parsed_networks(self) -> None:
        cfg = Config()
        cfg.set("forwarded_allow_ips", "192.0.2.0/24")
        allow = AllowList(cfg.forwarded_allow_ips, cfg.forwarded_allow_networks())
        assert allow.allows_address("192.0.2.9") and not allow.allows_address("127.0.0.1")
        assert allow._networks == (ipaddress.ip_network("192.0.2.0/24"),)


class TestForwardedTrust:
    trust = ForwardedTrust(AllowList(["127.0.0.1", "10.0.0.0/8"]), SECURE)
    peer = ("127.0.0.1", 4000)

    def test_untrusted_peers_say_nothing(self) -> None:
        headers = raw(X_Forwarded_For="1.2.3.4", X_Forwarded_Proto="https")
        assert self.trust.resolve(("192.0.2.1", 1), headers) is None

    def test_scheme_from_any_secure_header_values_compare_exactly(self) -> None:
        resolve = self.trust.resolve
        assert resolve(self.peer, raw(X_Forwarded_Ssl="on")) == Forwarded("https")
        assert resolve(self.peer, raw(X_FORWARDED_PROTO="https")) == Forwarded("https")
        assert resolve(self.peer, raw(X_Forwarded_Proto="HTTPS")) == Forwarded("http")
        assert resolve(self.peer, raw(Other="x")) is None

    def test_contradicting_scheme_headers_conflict(self) -> None:
        resolve = self.trust.resolve
        info = resolve(self.peer, raw(X_Forwarded_Proto="https", X_Forwarded_Ssl="off"))
        assert info == Forwarded("http", conflict=True)
        agree = resolve(self.peer, raw(X_Forwarded_Proto="https", X_Forwarded_Ssl="on"))
        assert agree == Forwarded("https")

    @pytest.mark.parametrize(
        ("values", "client"),
        [
            (["203.0.113.7"], "203.0.113.7"),
            (["203.0.113.7, 10.0.0.2"], "203.0.113.7"),
            (["198.51.100.1, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),  # a spoofed first hop
            (["198.51.100.1", "203.0.113.7 ,10.0.0.2"], "203.0.113.7"),  # repeated field
            (["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # all ours: the leftmost
            (["unknown"], "unknown"),
            ([" , "], None),
        ],
    )
    def test_client_is_the_nearest_untrusted_hop(
        self, values: list[str], client: str | None
    ) -> None:
        headers = tuple((b"X-Forwarded-For", v.encode()) for v in values)
        found = self.trust.resolve(self.peer, headers)
        assert (found.remote if found is not None else None) == client


def as_sent(*names: str) -> tuple[tuple[bytes, bytes], ...]:
    """Headers named exactly as given (``raw`` turns ``_`` into ``-``), each valued ``v``."""
    return tuple((name.encode(), b"v") for name in names)


class TestHeaderNamePolicy:
    """gunicorn's header_map and forwarder_headers, as gunicorn 27 applies them
    (https://docs.gunicorn.org/en/stable/settings.html#header-map)."""

    untrusted = ("192.0.2.1", 1)
    trusted = ("127.0.0.1", 1)
    allow = AllowList(["127.0.0.1"])

    def policy(self, mode: str = "drop", forwarders: str | None = None) -> HeaderNamePolicy | None:
        cfg = Config()
        cfg.set("header_map", mode)
        if forwarders is not None:
            cfg.set("forwarder_headers", forwarders)
        return header_name_policy(cfg)

    def kept(self, policy: HeaderNamePolicy | None, peer: Any, headers: Any) -> Any:
        """What the worker keeps of ``headers`` from ``peer``: the fields, or the refused name."""
        found = ForwardedTrust(self.allow, {}, policy).resolve(peer, headers)
        if found is None:
            return headers
        assert found.scheme is None and found.remote is None and not found.conflict
        if found.refused_name is not None:
            return found.refused_name
        assert found.headers is not None
        return found.headers

    def test_dangerous_needs_no_policy(self) -> None:
        assert self.policy("dangerous") is None
        assert self.policy("DROP") is not None and self.policy("refuse") is not None
        headers = as_sent("Host", "X_Forwarded_For")
        assert self.kept(None, self.untrusted, headers) == headers

    def test_drop_removes_every_name_with_an_underscore_from_an_untrusted_peer(self) -> None:
        policy = self.policy()
        assert policy is not None and not policy.refuse
        headers = as_sent("Host", "X_Forwarded_For", "X-Forwarded-For", "SCRIPT_NAME", "A_")
        assert self.kept(policy, self.untrusted, headers) == as_sent("Host", "X-Forwarded-For")

    def test_names_without_an_underscore_change_nothing(self) -> None:
        trust = ForwardedTrust(self.allow, SECURE, self.policy())
        assert trust.resolve(self.untrusted, as_sent("Host", "Accept", "X-A")) is None
        assert trust.resolve(self.trusted, as_sent("Host", "Accept", "X-A")) is None

    def test_trusted_forwarder_headers_pass_compared_upper_cased(self) -> None:
        policy = self.policy()  # forwarder_headers defaults to SCRIPT_NAME,PATH_INFO
        assert policy is not None
        headers = as_sent("SCRIPT_NAME", "path_info", "Remote_User", "X-A")
        expected = as_sent("SCRIPT_NAME", "path_info", "X-A")
        assert self.kept(policy, self.trusted, headers) == expected
        # A unix-socket peer is trusted.
        assert self.kept(policy, "/run/g.sock", headers) == expected
        # The list is used as written, as gunicorn does: a lower-case entry never matches.
        lower = self.policy(forwarders="remote_user")
        assert self.kept(lower, self.trusted, headers) == as_sent("X-A")
        upper = self.policy(forwarders="REMOTE_USER")
        assert self.kept(upper, self.trusted, headers) == as_sent("Remote_User", "X-A")

    def test_star_lets_a_trusted_peer_send_any_name(self) -> None:
        policy = self.policy(forwarders="*")
        headers = as_sent("X_Forwarded_For", "X-A")
        assert self.kept(policy, self.trusted, headers) == headers
        assert self.kept(policy, self.untrusted, headers) == as_sent("X-A")

    def test_refuse_names_the_first_refused_header(self) -> None:
        policy = self.policy("refuse")
        assert policy is not None and policy.refuse
        headers = as_sent("X-A", "SCRIPT_NAME", "X_B")
        assert self.kept(policy, self.untrusted, headers) == b"SCRIPT_NAME"
        assert self.kept(policy, self.trusted, headers) == b"X_B"
        assert self.kept(policy, self.trusted, as_sent("SCRIPT_NAME")) == as_sent("SCRIPT_NAME")

    def test_the_scheme_is_read_before_names_are_dropped(self) -> None:
        # gunicorn reads secure_scheme_headers from the fields as sent, then applies the map.
        trust = ForwardedTrust(self.allow, {"X_PROTO": "https"}, self.policy())
        found = trust.resolve(self.trusted, as_sent("Host", "X_Proto"))
        assert found == Forwarded("http", headers=as_sent("Host"))


def test_environ_never_folds_an_underscore_name_into_a_dashed_one() -> None:
    raw = (
        (b"X-Forwarded-For", b"203.0.113.7"),
        (b"X_Forwarded_For", b"127.0.0.1"),
        (b"SCRIPT_NAME", b"/mount"),
        (b"Content-Type", b"text/plain"),
        (b"X-A", b"1"),
        (b"X-A", b"2"),
    )
    message = RequestMessage("GET", "/p?q=1", HttpVersion11, raw)
    peer = SimpleNamespace(peername=("127.0.0.1", 4000), transport=None)
    request = BaseRequest(message, EMPTY_PAYLOAD, peer, None, None, None)  # type: ignore[arg-type]
    environ = build_environ(request, ("127.0.0.1", 8000))
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.7"
    assert environ["HTTP_X_A"] == "1,2"
    assert environ["CONTENT_TYPE"] == "text/plain"
    http_keys = [key for key in environ if key.startswith("HTTP_")]
    assert http_keys == ["HTTP_X_FORWARDED_FOR", "HTTP_X_A"]  # no key for a name with "_"


class FakeInner:
    """Records what the gate hands to the HTTP protocol."""

    def __init__(self) -> None:
        self.peername: Any = None
        self.data = b""
        self.made = False
        self.lost = False

    def connection_made(self, transport: Any) -> None:
        self.made = True
        self.peername = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True


class SwitchingTransport(FakeTransport):
    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


def gate_for(peer: Any, allow: list[str], mode: str = "auto") -> tuple[Any, Any, Any]:
    inner = FakeInner()
    gate = ProxyProtocolGate(inner, mode, AllowList(allow), Logger(Config()))  # type: ignore[arg-type]
    transport = SwitchingTransport(peername=peer)
    transport.protocol = gate
    gate.connection_made(transport)
    return gate, inner, transport


HTTP = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class TestProxyGate:
    def test_header_sets_the_peer_and_hands_over_the_rest(self) -> None:
        _, inner, transport = gate_for(("127.0.0.1", 5), ["127.0.0.1"])
        assert inner.made and inner.peername == ("127.0.0.1", 5)
        for piece in (b"PROXY TCP4 198.51", b".100.4 10.0.0.1 4000 80\r\nGET / HT", b"TP/1.1\r\n"):
            transport.protocol.data_received(piece)
        assert inner.peername == ("198.51.100.4", 4000)
        assert transport.protocol is inner  # the gate is out of the data path
        assert inner.data == b"GET / HTTP/1.1\r\n"

    def test_no_header_passes_through_from_anyone(self) -> None:
        gate, inner, transport = gate_for(("192.0.2.1", 5), [])
        gate.data_received(HTTP)
        assert inner.data == HTTP and inner.peername == ("192.0.2.1", 5)
        assert transport.protocol is inner

    def test_unknown_keeps_the_socket_peer(self) -> None:
        gate, inner, _ = gate_for(("127.0.0.1", 5), ["127.0.0.1"])
        gate.data_received(b"PROXY UNKNOWN\r\n" + HTTP)
        assert inner.peername == ("127.0.0.1", 5) and inner.data == HTTP

    async def _refused(self, peer: Any, allow: list[str], data: bytes) -> bytes:
        gate, inner, transport = gate_for(peer, allow)
        gate.data_received(data)
        await asyncio.sleep(0)
        assert transport.closed and inner.lost and inner.data == b""
        return bytes(transport.data)

    async def test_forbidden_peer_gets_403_and_bad_header_400(self) -> None:
        header = b"PROXY TCP4 198.51.100.4 10.0.0.1 4000 80\r\n"
        forbidden = await self._refused(("192.0.2.1", 5), ["127.0.0.1"], header + HTTP)
        assert forbidden.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"Connection: close\r\n" in forbidden and b"\r\nDate: " in forbidden
        bad = await self._refused(("127.0.0.1", 5), ["127.0.0.1"], b"PROXY TCP5 x\r\n")
        assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")

    def test_unix_peer_may_send_a_header(self) -> None:
        gate, inner, _ = gate_for("", [])
        gate.data_received(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n" + HTTP)
        assert inner.peername == ("2001:db8::1", 1)


class TestTimingsAndLimits:
    @pytest.mark.parametrize(
        ("graceful", "cap", "drain", "grace"),
        [(30, 29.5, 26.5, 1.0), (10, 9.5, 8.5, 1.0), (2, 1.5, 1.0, 0.5), (0, 0.5, 0.0, 0.0)],
    )
    def test_shutdown_fits_inside_graceful_timeout(
        self, graceful: float, cap: float, drain: float, grace: float
    ) -> None:
        timing = ShutdownTiming.from_graceful_timeout(graceful, 1.0)
        assert (timing.cap, timing.drain, timing.grace) == pytest.approx((cap, drain, grace))

    def test_heartbeat_interval(self) -> None:
        assert heartbeat_interval(15) == 1.0
        assert heartbeat_interval(0.5) == 0.5
        assert heartbeat_interval(0) == 1.0  # the watchdog is off: beat anyway

    def test_limits_are_clamped_like_gunicorn(self) -> None:
        cfg = SimpleNamespace(
            limit_request_line=0, limit_request_fields=0, limit_request_field_size=0
        )
        limits = limits_from_config(cfg)
        assert (limits.max_line_size, limits.max_headers, limits.max_field_size) == (0, 32768, 8190)
        cfg = SimpleNamespace(
            limit_request_line=99999, limit_request_fields=40000, limit_request_field_size=10
        )
        limits = limits_from_config(cfg)
        assert (limits.max_line_size, limits.max_headers, limits.max_field_size) == (
            8190,
            32768,
            10,
        )


class TestAccessResponse:
    def test_what_gunicorns_atoms_read(self) -> None:
        from runtime.web.response import Response

        response = Response(status=201, text="made", headers={"X-A": "1"})
        adapted = AccessResponse(response)
        assert (adapted.status, adapted.status_code, adapted.sent) == ("201 Created", 201, 0)
        assert ("X-A", "1") in adapted.headers and ("Content-Length", "0") in adapted.headers
        atoms = Logger(Config()).atoms(
            adapted,
            SimpleNamespace(headers={"User-Agent": "x"}),
            {"REQUEST_METHOD": "GET", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1"},
            datetime.timedelta(seconds=1.5),
        )
        assert atoms["s"] == "201"  # split from the WSGI status line
        assert (atoms["{x-a}o"], atoms["{user-agent}i"], atoms["T"]) == ("1", "x", 1)

"""``BaseRequest`` (the low-level server's request) and ``Request`` (the application's)."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar, overload
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from ..http.errors import HttpProcessingError
from ..http.fields import ETag, parse_cookie_header, parse_forwarded
from ..http.grammar import displayed_field_value
from ..http.header_params import parse_content_type
from ..http.message import HttpVersion, RequestMessage
from ..http.writer import ResponseWriter
from ..server.streams import EMPTY_PAYLOAD, StreamReader
from .chain_map import ChainMapProxy
from .exceptions import (
    HTTPBadRequest,
    HTTPRequestEntityTooLarge,
    HTTPUnsupportedMediaType,
    http_exception_for,
)
from .keys import RequestKey, is_foreign_key, warn_str_key
from .multipart import MultipartReader
from .multipart_form import FileField, read_form, too_many_fields
from .request_fields import byte_range, entity_tags, http_date
from .request_target import rel_url_of

if TYPE_CHECKING:
    from ..server.protocol import HttpProtocol
    from .app import Application
    from .response import StreamResponse
    from .routing.dispatcher import UrlMappingMatchInfo

__all__ = ["BaseRequest", "FileField", "PrepareHook", "Request"]

_sentinel: Final[Any] = object()
_T = TypeVar("_T")
#: ``await hook(response)`` just before a response's head goes out (``add_prepare_hook``).
PrepareHook = Callable[["StreamResponse"], Awaitable[None]]


class BaseRequest(MutableMapping[str | RequestKey[Any], Any]):
    """An incoming request. Also a mapping for per-request data (``request[USER]``, with
    ``USER`` a ``web.RequestKey``).

    URL, query, cookies and the headers proxy are built on first use.
    """

    POST_METHODS = frozenset({"PATCH", "POST", "PUT", "TRACE", "DELETE"})

    __slots__ = (
        "__weakref__",
        "_cache",
        "_client_max_fields",
        "_client_max_size",
        "_headers",
        "_host",
        "_loop",
        "_match_info",
        "_message",
        "_payload",
        "_prepare_hooks",
        "_protocol",
        "_read_bytes",
        "_rel_url",
        "_remote",
        "_scheme",
        "_state",
        "_task",
        "_writer",
    )

    # The str keys warned about already: aiohttp warns once per key, not once per request.
    _seen_str_keys: ClassVar[set[str]] = set()

    def __init__(
        self,
        message: RequestMessage,
        payload: StreamReader,
        protocol: HttpProtocol,
        writer: ResponseWriter,
        task: asyncio.Task[Any] | None,
        loop: asyncio.AbstractEventLoop,
        client_max_size: int = 1024**2,
        client_max_fields: int = 1000,
        *,
        state: dict[str | RequestKey[Any], Any] | None = None,
        scheme: str | None = None,
        host: str | None = None,
        remote: str | None = None,
    ) -> None:
        self._message = message
        self._payload = payload
        self._protocol = protocol
        self._writer = writer
        self._task = task
        self._loop = loop
        self._client_max_size = client_max_size
        self._client_max_fields = client_max_fields
        self._state: dict[str | RequestKey[Any], Any] = {} if state is None else state
        self._scheme = scheme
        self._host = host
        self._remote = remote
        self._headers: CIMultiDictProxy[str] | None = None
        self._rel_url: URL | None = None
        self._read_bytes: bytes | None = None
        self._cache: dict[str, Any] = {}
        self._match_info: UrlMappingMatchInfo | None = None  # set by the application
        self._prepare_hooks: list[PrepareHook] | None = None

    def clone(
        self,
        *,
        method: str | Any = _sentinel,
        rel_url: str | URL | Any = _sentinel,
        headers: Mapping[str, str] | Any = _sentinel,
        scheme: str | Any = _sentinel,
        host: str | Any = _sentinel,
        remote: str | Any = _sentinel,
        client_max_size: int | Any = _sentinel,
        client_max_fields: int | Any = _sentinel,
        content: StreamReader | Any = _sentinel,
    ) -> BaseRequest:
        """A copy with some parts replaced (proxy-header middlewares use it).

        The copy shares the body stream (unless ``content`` replaces it), the per-request
        mapping and the prepare hooks with the original.

        Args:
            content: a stream to read the body from instead (a decoding middleware's);
                the copy then declares no ``content_length``.
        """
        if self._read_bytes is not None:
            raise RuntimeError("Cannot clone request after reading its content")
        message = self._message
        new_headers = message.raw_headers
        if headers is not _sentinel:
            new_headers = tuple(
                (k.encode("ascii"), v.encode("utf-8", "surrogateescape"))
                for k, v in CIMultiDict(headers).items()
            )
        target = message.target
        if rel_url is not _sentinel:
            url = URL(rel_url)
            if url.absolute:
                raise ValueError("rel_url must be a relative URL")
            target = str(url)
        new_message = RequestMessage(
            message.method if method is _sentinel else str(method).upper(),
            target,
            message.version,
            new_headers,
            keep_alive=message.keep_alive,
            upgrade=message.upgrade,
            chunked=message.chunked,
            content_length=message.content_length if content is _sentinel else None,
            expect_continue=message.expect_continue,
            has_expect=message.has_expect,
        )
        return self._clone_with(
            new_message,
            payload=self._payload if content is _sentinel else content,
            client_max_size=self._client_max_size
            if client_max_size is _sentinel
            else client_max_size,
            client_max_fields=self._client_max_fields
            if client_max_fields is _sentinel
            else client_max_fields,
            scheme=self._scheme if scheme is _sentinel else scheme,
            host=self._host if host is _sentinel else host,
            remote=self._remote if remote is _sentinel else remote,
        )

    def _clone_with(
        self, message: RequestMessage, *, payload: StreamReader, **kwargs: Any
    ) -> BaseRequest:
        clone = type(self)(
            message,
            payload,
            self._protocol,
            self._writer,
            self._task,
            self._loop,
            state=self._state,
            **kwargs,
        )
        if self._prepare_hooks is None:
            self._prepare_hooks = []  # shared from now on: a hook added to either counts
        clone._prepare_hooks = self._prepare_hooks
        return clone

    # -- mapping ------------------------------------------------------------------------

    @overload
    def __getitem__(self, key: RequestKey[_T]) -> _T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: str | RequestKey[_T]) -> Any:
        return self._state[key]

    @overload
    def __setitem__(self, key: RequestKey[_T], value: _T) -> None: ...

    @overload
    def __setitem__(self, key: str, value: Any) -> None: ...

    def __setitem__(self, key: str | RequestKey[_T], value: Any) -> None:
        if (
            not isinstance(key, RequestKey)
            and key not in BaseRequest._seen_str_keys
            and not is_foreign_key(key, RequestKey)
        ):
            BaseRequest._seen_str_keys.add(key)  # once per key and process, as aiohttp
            warn_str_key(key, RequestKey, stacklevel=2)
        self._state[key] = value

    def __delitem__(self, key: str | RequestKey[Any]) -> None:
        del self._state[key]

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Iterator[str | RequestKey[Any]]:
        return iter(self._state)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.raw_path} >"

    # -- the request line ---------------------------------------------------------------

    @property
    def message(self) -> RequestMessage:
        warnings.warn(
            "Request.message is deprecated: read request.method, request.version, "
            "request.raw_path and request.headers",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._message

    @property
    def method(self) -> str:
        return self._message.method

    @property
    def version(self) -> HttpVersion:
        return self._message.version

    @property
    def raw_path(self) -> str:
        """The request target as received, percent-encoded, with the query."""
        return self._message.target

    @property
    def rel_url(self) -> URL:
        url = self._rel_url
        if url is None:
            url = self._rel_url = rel_url_of(self._message.target)
        return url

    @property
    def path(self) -> str:
        """The decoded path, without the query."""
        return self.rel_url.path

    @property
    def path_qs(self) -> str:
        return str(self.rel_url)

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.rel_url.query

    @property
    def query_string(self) -> str:
        return self.rel_url.query_string

    @property
    def url(self) -> URL:
        """The absolute URL, from the scheme and the host the client asked for."""
        url = self._cache.get("url")
        if url is None:
            url = self._cache["url"] = URL.build(scheme=self.scheme, authority=self.host).join(
                self.rel_url
            )
        return url

    # -- headers ------------------------------------------------------------------------

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        headers = self._headers
        if headers is None:
            headers = self._headers = self._message.headers
        return headers

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return self._message.raw_headers

    @property
    def keep_alive(self) -> bool:
        return self._message.keep_alive

    @property
    def content_type(self) -> str:
        value = self.headers.get("Content-Type")
        return parse_content_type(value)[0] if value else "application/octet-stream"

    @property
    def charset(self) -> str | None:
        value = self.headers.get("Content-Type")
        return parse_content_type(value)[1].get("charset") if value else None

    @property
    def content_length(self) -> int | None:
        return self._message.content_length

    @property
    def cookies(self) -> Mapping[str, str]:
        """Cookies the client sent, name to value (RFC 6265 5.4)."""
        cookies = self._cache.get("cookies")
        if cookies is None:
            parsed: dict[str, str] = {}
            for header in self.headers.getall("Cookie", ()):
                parsed.update(parse_cookie_header(header))
            cookies = self._cache["cookies"] = MappingProxyType(parsed)
        return cookies

    @property
    def if_modified_since(self) -> datetime.datetime | None:
        return http_date(self.headers.get("If-Modified-Since"))

    @property
    def if_unmodified_since(self) -> datetime.datetime | None:
        return http_date(self.headers.get("If-Unmodified-Since"))

    @property
    def if_range(self) -> datetime.datetime | None:
        return http_date(self.headers.get("If-Range"))

    @property
    def if_match(self) -> tuple[ETag, ...] | None:
        """``If-Match`` as entity tags (``*`` is ``ETag("*")``); None when absent or empty."""
        return entity_tags(self.headers.get("If-Match"))

    @property
    def if_none_match(self) -> tuple[ETag, ...] | None:
        """``If-None-Match`` as entity tags (``*`` is ``ETag("*")``); None when absent."""
        return entity_tags(self.headers.get("If-None-Match"))

    @property
    def http_range(self) -> slice:
        """The ``Range`` header as a slice; ASCII digits only (RFC 9110 14.1.1)."""
        return byte_range(self.headers.get("Range"))

    # -- connection ---------------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._protocol.transport

    @property
    def protocol(self) -> HttpProtocol:
        return self._protocol

    @property
    def writer(self) -> ResponseWriter:
        return self._writer

    @property
    def task(self) -> asyncio.Task[Any] | None:
        return self._task

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        warnings.warn(
            "Request.loop is deprecated: use asyncio.get_running_loop() in the handler",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._loop

    @property
    def client_max_size(self) -> int:
        return self._client_max_size

    @property
    def client_max_fields(self) -> int:
        """The most fields ``post()`` accepts (413 above it; 0: no limit)."""
        return self._client_max_fields

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def scheme(self) -> str:
        if self._scheme is not None:
            return self._scheme
        transport = self._protocol.transport
        if transport is not None and transport.get_extra_info("sslcontext") is not None:
            return "https"
        return "http"

    @property
    def host(self) -> str:
        """``Host`` as the client sent it, or this machine's name for HTTP/1.0 without one."""
        if self._host is not None:
            return self._host
        host = self.headers.get("Host")
        return host if host is not None else socket.getfqdn()

    @property
    def remote(self) -> str | None:
        """The peer's address (a trusted proxy middleware may replace it)."""
        if self._remote is not None:
            return self._remote
        peer = self._protocol.peername
        if isinstance(peer, (list, tuple)):
            return str(peer[0])
        return str(peer) if peer is not None else None

    @property
    def forwarded(self) -> tuple[Mapping[str, str], ...]:
        """Parsed RFC 7239 ``Forwarded`` elements, first hop first; bad parts are skipped."""
        result = self._cache.get("forwarded")
        if result is None:
            result = self._cache["forwarded"] = tuple(
                parse_forwarded(self.headers.getall("Forwarded", ()))
            )
        return result

    # -- body ---------------------------------------------------------------------------

    @property
    def content(self) -> StreamReader:
        return self._payload

    @property
    def body_exists(self) -> bool:
        return self._payload is not EMPTY_PAYLOAD

    @property
    def has_body(self) -> bool:
        """Deprecated (aiohttp #2005): ``can_read_body``, which it returns, with a warning."""
        warnings.warn(
            "Request.has_body is deprecated: use request.can_read_body (or "
            "request.body_exists for whether the request came with a body at all)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.can_read_body

    @property
    def can_read_body(self) -> bool:
        return self._payload is not EMPTY_PAYLOAD and not self._payload.at_eof()

    async def release(self) -> None:
        """Read and drop the rest of the body."""
        while not self._payload.at_eof():
            if not await self._payload.readany():
                break

    async def read(self) -> bytes:
        """The whole body; 413 past ``client_max_size`` without buffering the excess."""
        if self._read_bytes is None:
            limit = self._client_max_size
            declared = self._message.content_length
            if limit and declared is not None and declared > limit:
                raise HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
            chunks = []
            size = 0
            try:
                while True:
                    chunk = await self._payload.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    if limit and size > limit:
                        raise HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
                    chunks.append(chunk)
            except HttpProcessingError as exc:
                raise http_exception_for(exc) from None
            self._read_bytes = b"".join(chunks)
        return self._read_bytes

    async def text(self) -> str:
        body = await self.read()
        return body.decode(self.charset or "utf-8")

    async def json(self, *, loads: Callable[[str], Any] = json.loads) -> Any:
        return loads(await self.text())

    async def post(self) -> MultiDictProxy[str | bytes | FileField]:
        """Form fields from a urlencoded or multipart body (empty for other types)."""
        cached = self._cache.get("post")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        result: MultiDict[str | bytes | FileField] = MultiDict()
        if self.method in self.POST_METHODS:
            ctype = self.content_type
            if ctype == "application/x-www-form-urlencoded":
                body = await self.read()
                try:
                    text = body.decode(self.charset or "utf-8")
                except (LookupError, UnicodeEncodeError):
                    # UnicodeEncodeError: a charset name with non-ASCII bytes (kept as
                    # surrogates) cannot even be looked up.
                    charset = displayed_field_value(self.charset or "")
                    raise HTTPUnsupportedMediaType(
                        text=f"Unsupported form charset '{charset}'"
                    ) from None
                except UnicodeDecodeError:
                    raise HTTPBadRequest(text="Form body is not valid for its charset") from None
                limit = self._client_max_fields
                try:
                    # Counted as aiohttp counts them: one field per "&"-separated piece.
                    pairs = parse_qsl(
                        text,
                        keep_blank_values=True,
                        encoding=self.charset or "utf-8",
                        max_num_fields=limit if limit > 0 else None,
                    )
                except ValueError:
                    raise too_many_fields(limit) from None
                result.extend(pairs)
            elif ctype == "multipart/form-data":
                result = await read_form(self)
            elif self.body_exists and ctype not in ("", "application/octet-stream"):
                pass  # aiohttp answers an empty form for other content types
        proxy = MultiDictProxy(result)
        self._cache["post"] = proxy
        return proxy

    async def multipart(self) -> Any:
        """A reader over the parts of a multipart body."""
        if not self.content_type.startswith("multipart/"):
            raise HTTPUnsupportedMediaType(text="Expected a multipart body")
        return MultipartReader(self.headers, self._payload)

    def _close_uploads(self) -> None:
        """Close the temporary files ``post()`` spooled uploads to (the handler is done)."""
        form = self._cache.get("post")
        if form is None:
            return
        for value in form.values():
            if isinstance(value, FileField):
                value.file.close()

    def add_prepare_hook(self, hook: PrepareHook) -> None:
        """Await ``hook(response)`` when a response to this request is about to send its head.

        For middlewares that must see a response the handler prepares itself: a streamed
        body never comes back to them unprepared. Hooks run after the application's
        ``on_response_prepare`` signal, the latest added first (the order in which
        middlewares see a returned response), and clones of this request share them.

        Args:
            hook: a coroutine function taking the response.
        """
        hooks = self._prepare_hooks
        if hooks is None:
            hooks = self._prepare_hooks = []
        hooks.append(hook)

    def remove_prepare_hook(self, hook: PrepareHook) -> None:
        """Forget a hook added with :meth:`add_prepare_hook`; nothing happens if it is gone.

        Args:
            hook: the hook to remove.
        """
        hooks = self._prepare_hooks
        if hooks and hook in hooks:
            hooks.remove(hook)

    async def _prepare_hook(self, response: StreamResponse) -> None:
        hooks = self._prepare_hooks
        if hooks:
            for hook in reversed(tuple(hooks)):
                await hook(response)

    def _needs_prepare_hook(self) -> bool:
        """Whether :meth:`_prepare_hook` has anything to run (the fast path skips it)."""
        return bool(self._prepare_hooks)


class Request(BaseRequest):
    """A request routed inside an :class:`Application`."""

    __slots__ = ()

    def _clone_with(
        self, message: RequestMessage, *, payload: StreamReader, **kwargs: Any
    ) -> BaseRequest:
        clone = super()._clone_with(message, payload=payload, **kwargs)
        assert isinstance(clone, Request)
        clone._match_info = self._match_info
        return clone

    @property
    def match_info(self) -> UrlMappingMatchInfo:
        """What the router matched: path parts by name, and the route."""
        assert self._match_info is not None
        return self._match_info

    @property
    def app(self) -> Application:
        """The application (or sub-application) that owns the matched route."""
        return self.match_info.current_app

    @property
    def config_dict(self) -> Any:
        """Look keys up through the chain of applications, from the current one out to the
        root: a parent's middleware sees its own app and the apps above it, never the keys
        of the sub-app the route belongs to (aiohttp's scope)."""
        match_info = self.match_info
        apps = match_info.apps
        current = apps.index(match_info.current_app)
        return ChainMapProxy(apps[current::-1])

    def _needs_prepare_hook(self) -> bool:
        if self._prepare_hooks:
            return True
        match_info = self._match_info
        if match_info is None:
            return False
        for app in match_info._apps:  # (the apps property copies a list into a tuple)
            receivers = app._prepare_receivers
            if receivers is None:  # not frozen yet (a mocked request, say): ask the signal
                receivers = bool(app.on_response_prepare)
            if receivers:
                return True
        return False

    async def _prepare_hook(self, response: StreamResponse) -> None:
        match_info = self._match_info
        if match_info is not None:
            for app in match_info.apps:
                await app.on_response_prepare.send(self, response)
        await super()._prepare_hook(response)


#: The request classes servers give ``client_max_size`` and ``client_max_fields`` by
#: position: a class called with keywords builds a dict of them for ``__init__`` (1,900
#: instructions of a hello-world request's 70,000).
PLAIN_REQUEST_CLASSES: Final = (BaseRequest, Request)

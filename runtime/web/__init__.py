"""The server-side public API: ``from runtime import web`` is our ``from aiohttp import web``."""

from __future__ import annotations

import warnings

from ..http.message import HttpVersion, HttpVersion10, HttpVersion11
from ..http.ws import WSCloseCode, WSMessage, WSMsgType
from ..server.streams import EMPTY_PAYLOAD, StreamReader
from ..websocket.connection import WSMessageTypeError
from . import exceptions as _exceptions
from .accel import accel_redirect, no_proxy_buffering
from .access_log import AbstractAccessLogger, AccessLogger
from .app import AppKey, Application, ChainMapProxy, CleanupError
from .decoded_body import DecodedBody
from .exceptions import *  # noqa: F403 - every HTTPxxx class, as aiohttp.web exports them
from .exceptions import MalformedRequestBody, RequestPayloadError
from .fileresponse import FileResponse
from .json_responses import json_bytes_response, json_response
from .keys import NotAppKeyWarning, RequestKey, ResponseKey
from .middleware import middleware, normalize_path_middleware
from .readiness import READINESS, Readiness, ReadinessState, readiness
from .request import BaseRequest, FileField, PrepareHook, Request
from .response import (
    BodyEncoder,
    ContentCoding,
    ETag,
    Response,
    StreamResponse,
)
from .routing.dispatcher import (
    AbstractResource,
    AbstractRoute,
    AbstractRouteDef,
    Domain,
    DynamicResource,
    MaskDomain,
    MatchedSubAppResource,
    MatchInfoError,
    PlainResource,
    PrefixedSubAppResource,
    PrefixResource,
    Resource,
    ResourceRoute,
    RouteDef,
    RouteTableDef,
    StaticDef,
    UrlDispatcher,
    UrlMappingMatchInfo,
    View,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    route,
    static,
    view,
)
from .routing.static import StaticResource
from .run_app import run_app
from .runner import (
    AppRunner,
    BaseRunner,
    BaseSite,
    GracefulExit,
    ServerRunner,
    SockSite,
    TCPSite,
    UnixSite,
)
from .server import Server
from .websocket import WebSocketReady, WebSocketResponse
from .websocket_registry import WebSocketRegistry, shutdown_websockets, websockets

__all__ = [
    "EMPTY_PAYLOAD",
    "READINESS",
    "AbstractAccessLogger",
    "AbstractResource",
    "AbstractRoute",
    "AbstractRouteDef",
    "AccessLogger",
    "AppKey",
    "AppRunner",
    "Application",
    "BaseRequest",
    "BaseRunner",
    "BaseSite",
    "BodyEncoder",
    "ChainMapProxy",
    "CleanupError",
    "ContentCoding",
    "DecodedBody",
    "Domain",
    "DynamicResource",
    "ETag",
    "FileField",
    "FileResponse",
    "GracefulExit",
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "MalformedRequestBody",
    "MaskDomain",
    "MatchInfoError",
    "MatchedSubAppResource",
    "NotAppKeyWarning",
    "PlainResource",
    "PrefixResource",
    "PrefixedSubAppResource",
    "PrepareHook",
    "Readiness",
    "ReadinessState",
    "Request",
    "RequestKey",
    "RequestPayloadError",
    "Resource",
    "ResourceRoute",
    "Response",
    "ResponseKey",
    "RouteDef",
    "RouteTableDef",
    "Server",
    "ServerRunner",
    "SockSite",
    "StaticDef",
    "StaticResource",
    "StreamReader",
    "StreamResponse",
    "TCPSite",
    "UnixSite",
    "UrlDispatcher",
    "UrlMappingMatchInfo",
    "View",
    "WSCloseCode",
    "WSMessage",
    "WSMessageTypeError",
    "WSMsgType",
    "WebSocketReady",
    "WebSocketRegistry",
    "WebSocketResponse",
    "accel_redirect",
    "delete",
    "get",
    "head",
    "json_bytes_response",
    "json_response",
    "middleware",
    "no_proxy_buffering",
    "normalize_path_middleware",
    "options",
    "patch",
    "post",
    "put",
    "readiness",
    "route",
    "run_app",
    "shutdown_websockets",
    "static",
    "view",
    "websockets",
]
__all__ += [name for name in dir(_exceptions) if name.startswith("HTTP")]

# As aiohttp.web does: str keys warn (keys.py), but by default nobody sees it; -W default,
# -X dev and test runners' filters (which go first) show it. Appended, so a filter of the
# application's own wins.
warnings.filterwarnings("ignore", category=NotAppKeyWarning, append=True)

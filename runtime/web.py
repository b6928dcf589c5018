"""The server-side public API: ``from runtime import web`` is our ``from aiohttp import web``."""

from __future__ import annotations

from . import exceptions as _exceptions
from .access_log import AbstractAccessLogger, AccessLogger
from .app import AppKey, Application, ChainMapProxy, CleanupError
from .exceptions import *  # noqa: F403 - every HTTPxxx class, as aiohttp.web exports them
from .fileresponse import FileResponse
from .http.message import HttpVersion, HttpVersion10, HttpVersion11
from .http.streams import EMPTY_PAYLOAD, StreamReader
from .keys import RequestKey, ResponseKey
from .middleware import middleware, normalize_path_middleware
from .request import BaseRequest, FileField, Request
from .response import (
    ContentCoding,
    ETag,
    Response,
    StreamResponse,
    json_bytes_response,
    json_response,
)
from .routing import (
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
from .static import StaticResource

__all__ = [
    "EMPTY_PAYLOAD",
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
    "ChainMapProxy",
    "CleanupError",
    "ContentCoding",
    "Domain",
    "DynamicResource",
    "ETag",
    "FileField",
    "FileResponse",
    "GracefulExit",
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "MaskDomain",
    "MatchInfoError",
    "MatchedSubAppResource",
    "PlainResource",
    "PrefixResource",
    "PrefixedSubAppResource",
    "Request",
    "RequestKey",
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
    "delete",
    "get",
    "head",
    "json_bytes_response",
    "json_response",
    "middleware",
    "normalize_path_middleware",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "run_app",
    "static",
    "view",
]
__all__ += [name for name in dir(_exceptions) if name.startswith("HTTP")]

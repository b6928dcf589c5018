"""Access logs in aiohttp's format language (Apache-like ``%`` atoms)."""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..http.grammar import displayed_field_value

if TYPE_CHECKING:
    from .request import BaseRequest
    from .response import StreamResponse

__all__ = ["AbstractAccessLogger", "AccessLogger", "access_logger"]

access_logger = logging.getLogger("runtime.access")

_Atom = Callable[["BaseRequest", "StreamResponse", float], str]


class AbstractAccessLogger:
    """Subclass and pass as ``access_log_class`` to log requests your own way."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        self.logger = logger
        self.log_format = log_format

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        """Whether :meth:`log` is called: always, as in aiohttp (a subclass may log
        somewhere other than ``self.logger``); :class:`AccessLogger` asks its logger."""
        return True


def _local_time(request: BaseRequest, response: StreamResponse, elapsed: float) -> str:
    now = datetime.datetime.now(datetime.UTC).astimezone()
    return now.strftime("[%d/%b/%Y:%H:%M:%S %z]")


_ATOMS: dict[str, _Atom] = {
    "a": lambda req, resp, t: req.remote or "-",
    "t": _local_time,
    "P": lambda req, resp, t: f"<{os.getpid()}>",
    "r": lambda req, resp, t: (
        f"{req.method} {req.raw_path} HTTP/{req.version.major}.{req.version.minor}"
    ),
    "s": lambda req, resp, t: str(resp.status),
    "b": lambda req, resp, t: str(resp.body_length),
    "T": lambda req, resp, t: str(round(t)),
    "Tf": lambda req, resp, t: f"{t:06f}",
    "D": lambda req, resp, t: str(round(t * 1_000_000)),
}

_FORMAT_RE = re.compile(r"%(\{([A-Za-z0-9\-_]+)\}([ioe])|[atPrsbOD]|Tf?)")


class AccessLogger(AbstractAccessLogger):
    """Logs one line per request; ``%{Header}i`` request and ``%{Header}o`` response headers,
    ``%{VAR}e`` environment variables."""

    LOG_FORMAT = '%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'

    def __init__(self, logger: logging.Logger, log_format: str = LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        self._template, self._atoms = self._compile(log_format)

    @staticmethod
    def _compile(log_format: str) -> tuple[str, list[_Atom]]:
        atoms: list[_Atom] = []

        def replace(match: re.Match[str]) -> str:
            key, name, kind = match.group(1), match.group(2), match.group(3)
            if name is not None:
                atoms.append(_header_atom(name, kind))
            else:
                atoms.append(_ATOMS["D" if key == "O" else key])
            return "%s"

        template = _FORMAT_RE.sub(replace, log_format.replace("%%", "\x00"))
        return template.replace("\x00", "%%"), atoms

    @property
    def enabled(self) -> bool:
        """Whether its logger emits INFO: otherwise no line is formatted."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        try:
            values = tuple(atom(request, response, time) for atom in self._atoms)
            self.logger.info(self._template, *values)
        except Exception:
            self.logger.exception("Error in access logger")


def _header_atom(name: str, kind: str) -> _Atom:
    if kind == "i":
        # An octet that is not UTF-8 as \xNN: a lone surrogate would fail the log handler.
        return lambda req, resp, t: displayed_field_value(req.headers.get(name, "-"))
    if kind == "o":
        return lambda req, resp, t: resp.headers.get(name, "-")
    return lambda req, resp, t: os.environ.get(name, "-")

"""gunicorn's access line, made from the atoms its ``access_log_format`` names and no others.

``gunicorn.glogging.Logger.access`` first builds every atom it knows: the fixed ones
(``h``, ``t``, ``r``, ...), one per request header, one per response header and one per
environ variable, then copies them all to escape quotes (``SafeAtoms``), and only then
formats the line, which names a handful (the default format, nine). Under Berth that meant
building a WSGI-style environ per request too (``access.py``).

:class:`AccessLine` asks the format once which keys it looks up (Python's own ``%`` parser
does the asking) and computes exactly those, with gunicorn's meaning and gunicorn's
escaping; tests/workers/test_access_line.py holds every atom to the line gunicorn's own
``access()`` writes. The mapping handed to the log record falls back to gunicorn's full
atoms for any other key a filter or formatter might read from ``record.args``.

It is used only when the worker's logger is gunicorn's own ``Logger`` class, or a subclass
that overrides none of ``access``, ``atoms``, ``now``, ``_get_user`` and
``atoms_wrapper_class`` (:func:`serves`); anything else (a StatsD logger, the structured
logger of ``logconfig.py``) gets ``log.access`` as before.
"""

from __future__ import annotations

import datetime
import os
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from .access import AccessResponse, build_environ, sockname_of, wsgi_text

if TYPE_CHECKING:
    from ..web import BaseRequest, StreamResponse

__all__ = ["AccessLine", "format_keys", "serves"]

#: The atoms read from the request's duration (a ``datetime.timedelta``, as gunicorn's).
_DURATION_KEYS: Final = frozenset({"T", "D", "M", "L"})
# What gunicorn's atoms() and SafeAtoms give a key they do not know.
_UNKNOWN: Final = "-"


def serves(log: Any) -> bool:
    """Whether ``log`` writes its access line exactly as gunicorn's ``Logger`` does, so
    that :class:`AccessLine` may write it instead."""
    from gunicorn.glogging import Logger, SafeAtoms  # noqa: PLC0415 - loaded by the worker

    kind = type(log)
    return (
        isinstance(log, Logger)
        and all(
            getattr(kind, name, None) is getattr(Logger, name)
            for name in ("access", "atoms", "now", "_get_user")
        )
        and getattr(log, "atoms_wrapper_class", None) is SafeAtoms
    )


def format_keys(log_format: str) -> tuple[str, ...] | None:
    """The mapping keys ``log_format % atoms`` looks up, in order, each once; None when the
    format cannot be applied to a mapping at all (gunicorn would log an error per request
    for it, and :class:`AccessLine` leaves such a format to gunicorn)."""
    asked: list[str] = []

    class _Recorder(dict[str, Any]):
        def __missing__(self, key: str) -> int:
            asked.append(key)
            return 0  # formats under %s, %d, %f, %x alike

    try:
        log_format % _Recorder()
    except (TypeError, ValueError, OverflowError):
        return None
    return tuple(dict.fromkeys(asked))


class _Atoms(dict[str, Any]):
    """The atoms one line needs; any other key is computed as gunicorn's ``SafeAtoms``
    would answer it, from the full set (built at most once, on such a read)."""

    __slots__ = ("_describe", "_full")

    def __init__(self, describe: Callable[[], Any]) -> None:
        super().__init__()
        self._describe = describe
        self._full: Any = None

    def __bool__(self) -> bool:
        # A log record takes a lone argument as its mapping only when it is true
        # (logging.LogRecord); gunicorn's full atoms always are, even for a format that
        # names none, which this one then holds.
        return True

    def __missing__(self, key: str) -> Any:
        if self._full is None:
            self._full = self._describe()
        return self._full[key]


class AccessLine:
    """Writes gunicorn's access line for one worker's requests.

    Args:
        log: the worker's gunicorn logger (:func:`serves` is true of it).
        cfg: the worker's gunicorn config (``access_log_format``).
    """

    def __init__(self, log: Any, cfg: Any) -> None:
        self._log = log
        self._cfg = cfg
        self._keys: dict[str, tuple[str, ...] | None] = {}

    def keys(self, log_format: str) -> tuple[str, ...] | None:
        """:func:`format_keys` of ``log_format``, remembered."""
        try:
            return self._keys[log_format]
        except KeyError:
            found = self._keys[log_format] = format_keys(log_format)
            return found

    def write(
        self,
        request: BaseRequest,
        response: StreamResponse,
        elapsed: float,
    ) -> None:
        """Log the request's line, as ``log.access(...)`` would."""
        log = self._log
        if not log.access_log_enabled:
            return
        log_format = self._cfg.access_log_format
        keys = self.keys(log_format)
        if keys is None:
            environ = build_environ(request, sockname_of(request))
            duration = datetime.timedelta(seconds=elapsed)
            log.access(AccessResponse(response), request, environ, duration)
            return
        atoms = self.atoms(keys, request, response, elapsed)
        try:
            log.access_log.info(log_format, atoms)
        except Exception:  # gunicorn's access() reports a failed line the same way
            log.error(traceback.format_exc())

    def atoms(
        self,
        keys: tuple[str, ...],
        request: BaseRequest,
        response: StreamResponse,
        elapsed: float,
    ) -> dict[str, Any]:
        """The value of each of ``keys``, as gunicorn's ``SafeAtoms`` of its ``atoms()``
        would give it (a ``"`` in a string escaped as ``\\"``)."""
        log = self._log
        duration = (
            datetime.timedelta(seconds=elapsed) if _DURATION_KEYS.intersection(keys) else None
        )

        def describe() -> Any:
            environ = build_environ(request, sockname_of(request))
            spent = duration if duration is not None else datetime.timedelta(seconds=elapsed)
            atoms = log.atoms(AccessResponse(response), request, environ, spent)
            return log.atoms_wrapper_class(atoms)

        found = _Atoms(describe)
        for key in keys:
            value = self._atom(key, request, response, duration)
            found[key] = value.replace('"', '\\"') if isinstance(value, str) else value
        return found

    def _atom(
        self,
        key: str,
        request: BaseRequest,
        response: StreamResponse,
        duration: datetime.timedelta | None,
    ) -> Any:
        """One atom, unescaped: gunicorn's ``atoms()`` entry (glogging.py) for ``key``."""
        if key.startswith("{"):
            return self._variable(key, request, response)
        if key == "h":
            return request.remote or _UNKNOWN
        if key == "l":
            return _UNKNOWN
        if key == "u":
            authorization = _field(request, "Authorization")
            user = None
            if authorization is not None:
                user = self._log._get_user({"HTTP_AUTHORIZATION": authorization})
            return user or _UNKNOWN
        if key == "t":
            return self._log.now()
        if key in ("r", "m", "U", "q", "H"):
            return _request_line_atom(key, request)
        if key == "s":
            return str(response.status)
        if key in ("b", "B"):
            sent = response.body_length
            return sent if key == "B" else str(sent)
        if key == "f":
            referer = _field(request, "Referer")
            return referer if referer is not None else _UNKNOWN
        if key == "a":
            agent = _field(request, "User-Agent")
            return agent if agent is not None else _UNKNOWN
        if key in _DURATION_KEYS and duration is not None:
            return _duration_atom(key, duration)
        if key == "p":
            return f"<{os.getpid()}>"
        return _UNKNOWN

    def _variable(self, key: str, request: BaseRequest, response: StreamResponse) -> Any:
        """``{name}i`` (a request header), ``{name}o`` (a response header) or ``{name}e``
        (an environ variable), by name in any case; the last of repeated fields, as
        gunicorn's dict of them keeps; ``-`` when absent or of another kind."""
        lowered = key.lower()
        name, kind = lowered[1:-2], lowered[-2:]
        pairs: Any
        if kind == "}i":
            pairs = request.headers.items()
        elif kind == "}o":
            pairs = AccessResponse(response).headers
        elif kind == "}e":
            pairs = build_environ(request, sockname_of(request)).items()
        else:
            return _UNKNOWN
        value: Any = _UNKNOWN
        for field, field_value in pairs:
            if field.lower() == name:
                value = field_value
        return wsgi_text(value) if kind == "}i" else value


def _field(request: BaseRequest, name: str) -> str | None:
    """A request header as the environ has it: repeated fields joined with ``,``, each octet
    one character (:func:`~runtime.workers.access.wsgi_text`)."""
    values = request.headers.getall(name, ())
    return wsgi_text(",".join(values)) if values else None


def _request_line_atom(key: str, request: BaseRequest) -> str:
    target = wsgi_text(request.raw_path)
    version = request.version
    protocol = f"HTTP/{version[0]}.{version[1]}"
    if key == "r":
        return f"{request.method} {target} {protocol}"
    if key == "m":
        return request.method
    if key == "H":
        return protocol
    path, _, query = target.partition("?")
    if key == "q":
        return query
    return unquote(path.partition("#")[0], encoding="latin-1")


def _duration_atom(key: str, duration: datetime.timedelta) -> Any:
    if key == "T":
        return duration.seconds
    if key == "D":
        return duration.seconds * 1000000 + duration.microseconds
    if key == "M":
        return duration.seconds * 1000 + int(duration.microseconds / 1000)
    return "%d.%06d" % (duration.seconds, duration.microseconds)  # noqa: UP031 - gunicorn's

"""The request corpus: load ``tests/http/requests/**/*.http`` cases and replay them.

The file format is described in ``tests/http/requests/README.md``. In short, each case is one
file: a TOML block stating the expected outcome, a line ``---``, then the raw request written
with visible escapes (``\\r\\n``, ``\\xHH``, ``\\uHHHH``, ``\\{N*text}``); the physical line breaks
of the raw part are not data.

``replay`` feeds a case's bytes to a :class:`RequestParser` in the given pieces and records
what the parser reported as an :class:`Outcome`, directly comparable with ``Case.expected``.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.http.errors import HttpProcessingError
from runtime.http.message import RawHeaders, RequestMessage
from runtime.http.parser import Limits, RequestParser

__all__ = [
    "CORPUS_DIR",
    "Case",
    "CorpusError",
    "Message",
    "Outcome",
    "Recorder",
    "Replay",
    "decode_escapes",
    "load_case",
    "load_corpus",
    "replay",
    "split",
]

CORPUS_DIR = Path(__file__).parent / "requests"
SEPARATOR = "---"

_ESCAPE = re.compile(
    r"""\\(?:
        (?P<simple>[rnt0\\])
      | x(?P<byte>[0-9A-Fa-f]{2})
      | u(?P<char>[0-9A-Fa-f]{4})
      | \{(?P<count>[0-9]+)\*(?P<text>[^}]*)\}
      | (?P<bad>.|$)
    )""",
    re.VERBOSE | re.DOTALL,
)
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\"}

_TOP_KEYS = frozenset({"status", "tail", "limits", "message"})
_LIMIT_KEYS = frozenset({"max_line_size", "max_field_size", "max_headers"})
_MESSAGE_KEYS = frozenset(
    {
        "method",
        "target",
        "version",
        "headers",
        "body",
        "keep_alive",
        "upgrade",
        "chunked",
        "content_length",
        "expect_continue",
        "trailers",
        "complete",
    }
)
_STATUSES = frozenset({400, 414, 431, 505})


class CorpusError(Exception):
    """A case file that does not follow the corpus format."""


def decode_escapes(text: str) -> bytes:
    """Turn corpus text into bytes.

    Characters are encoded as UTF-8; ``\\r \\n \\t \\0 \\\\`` are the usual bytes, ``\\xHH`` is
    one raw byte, ``\\uHHHH`` is that code point as UTF-8 and ``\\{N*text}`` is ``text``
    (itself escaped, without ``}``) repeated N times. Any other backslash is an error.
    """
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += text[pos : match.start()].encode("utf-8")
        pos = match.end()
        if match["simple"] is not None:
            out += _SIMPLE[match["simple"]]
        elif match["byte"] is not None:
            out.append(int(match["byte"], 16))
        elif match["char"] is not None:
            out += chr(int(match["char"], 16)).encode("utf-8")
        elif match["count"] is not None:
            out += decode_escapes(match["text"]) * int(match["count"])
        else:
            raise CorpusError(f"unknown escape {match.group()!r} at offset {match.start()}")
    out += text[pos:].encode("utf-8")
    return bytes(out)


@dataclass(frozen=True)
class Message:
    """One request as the sink saw it: the head's fields, the joined body, the trailers."""

    method: str
    target: bytes
    version: str
    headers: RawHeaders
    body: bytes = b""
    keep_alive: bool = True
    upgrade: bool = False
    chunked: bool = False
    content_length: int | None = None
    expect_continue: bool = False
    trailers: RawHeaders = ()
    complete: bool = True


@dataclass(frozen=True)
class Outcome:
    """Everything a replay observed: messages in order, the error status, the upgrade tail."""

    messages: tuple[Message, ...]
    status: int | None = None
    tail: bytes | None = None


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    data: bytes
    expected: Outcome
    limits: Limits = field(default_factory=Limits)

    @property
    def valid(self) -> bool:
        return self.expected.status is None


# -- loading ------------------------------------------------------------------------------


def _check_keys(where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)}")


def _typed(where: str, table: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    # bool is a subclass of int: reject True where a number is expected, and vice versa.
    if value is not default and (type(value) is not kind):
        raise CorpusError(f"{where}: {key} must be {kind.__name__}, not {value!r}")
    return value


def _fields(where: str, value: Any) -> RawHeaders:
    if not isinstance(value, list):
        raise CorpusError(f"{where}: expected a list of [name, value] pairs")
    pairs = []
    for item in value:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(s, str) for s in item)
        ):
            raise CorpusError(f"{where}: {item!r} is not a [name, value] pair of strings")
        pairs.append((decode_escapes(item[0]), decode_escapes(item[1])))
    return tuple(pairs)


def _message(where: str, table: Mapping[str, Any]) -> Message:
    _check_keys(where, table, _MESSAGE_KEYS)
    for key in ("method", "target"):
        if key not in table:
            raise CorpusError(f"{where}: {key} is required")
    version = _typed(where, table, "version", str, "1.1")
    if version not in ("1.0", "1.1"):
        raise CorpusError(f"{where}: version must be '1.0' or '1.1'")
    return Message(
        method=_typed(where, table, "method", str, None),
        target=decode_escapes(_typed(where, table, "target", str, None)),
        version=version,
        headers=_fields(f"{where}.headers", table.get("headers", [])),
        body=decode_escapes(_typed(where, table, "body", str, "")),
        keep_alive=_typed(where, table, "keep_alive", bool, True),
        upgrade=_typed(where, table, "upgrade", bool, False),
        chunked=_typed(where, table, "chunked", bool, False),
        content_length=_typed(where, table, "content_length", int, None),
        expect_continue=_typed(where, table, "expect_continue", bool, False),
        trailers=_fields(f"{where}.trailers", table.get("trailers", [])),
        complete=_typed(where, table, "complete", bool, True),
    )


def _limits(where: str, table: Any) -> Limits:
    if not isinstance(table, dict):
        raise CorpusError(f"{where}: limits must be a table")
    _check_keys(where, table, _LIMIT_KEYS)
    defaults = Limits()
    return Limits(
        max_line_size=_typed(where, table, "max_line_size", int, defaults.max_line_size),
        max_field_size=_typed(where, table, "max_field_size", int, defaults.max_field_size),
        max_headers=_typed(where, table, "max_headers", int, defaults.max_headers),
    )


def _check_consistency(where: str, valid: bool, expected: Outcome) -> None:
    messages = expected.messages
    if valid:
        if expected.status is not None:
            raise CorpusError(f"{where}: a valid case states no status")
        if not messages:
            raise CorpusError(f"{where}: a valid case expects at least one [[message]]")
        if not all(m.complete for m in messages):
            raise CorpusError(f"{where}: every message of a valid case is complete")
    else:
        if expected.status not in _STATUSES:
            raise CorpusError(f"{where}: status must be one of {sorted(_STATUSES)}")
        if expected.tail is not None:
            raise CorpusError(f"{where}: an invalid case has no tail")
    if any(not m.complete for m in messages[:-1]):
        raise CorpusError(f"{where}: only the last message may be incomplete")


def load_case(path: Path, root: Path = CORPUS_DIR) -> Case:
    """Parse one ``.http`` file; its folder (``valid`` or ``invalid``) says what it must be."""
    name = path.relative_to(root).with_suffix("").as_posix()
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    try:
        cut = lines.index(SEPARATOR)
    except ValueError:
        raise CorpusError(f"{name}: no '{SEPARATOR}' line before the request") from None
    try:
        spec = tomllib.loads("\n".join(lines[:cut]))
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{name}: {exc}") from None
    try:
        return _build_case(name, path, spec, lines[cut + 1 :])
    except CorpusError as exc:
        if str(exc).startswith(name):
            raise
        raise CorpusError(f"{name}: {exc}") from None


def _build_case(name: str, path: Path, spec: dict[str, Any], raw: list[str]) -> Case:
    # Physical line breaks only lay the request out; CR and LF are written as escapes.
    data = decode_escapes("".join(line.rstrip("\r") for line in raw))
    if not data:
        raise CorpusError(f"{name}: empty request")

    _check_keys(name, spec, _TOP_KEYS)
    raw_messages = spec.get("message", [])
    if not isinstance(raw_messages, list):
        raise CorpusError(f"{name}: use [[message]] tables")
    messages = tuple(_message(f"{name} message {i + 1}", m) for i, m in enumerate(raw_messages))
    tail = spec.get("tail")
    if tail is not None and not isinstance(tail, str):
        raise CorpusError(f"{name}: tail must be a string")
    expected = Outcome(
        messages=messages,
        status=_typed(name, spec, "status", int, None),
        tail=None if tail is None else decode_escapes(tail),
    )
    folder = name.split("/", 1)[0]
    if folder not in ("valid", "invalid"):
        raise CorpusError(f"{name}: cases live in valid/ or invalid/")
    _check_consistency(name, folder == "valid", expected)
    limits = _limits(name, spec["limits"]) if "limits" in spec else Limits()
    return Case(name=name, path=path, data=data, expected=expected, limits=limits)


def load_corpus(root: Path = CORPUS_DIR) -> list[Case]:
    """Every case under ``root``, sorted by name."""
    return [load_case(path, root) for path in sorted(root.glob("*/*.http"))]


# -- replaying ----------------------------------------------------------------------------


def split(data: bytes, mode: str) -> list[bytes]:
    """Cut ``data`` into the pieces one replay feeds.

    ``whole`` is one piece, ``bytewise`` one byte at a time, ``seed-N`` random sizes drawn
    from a generator seeded with N (mostly small pieces, sometimes large ones).
    """
    if mode == "whole":
        return [data]
    if mode == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    if not mode.startswith("seed-"):
        raise ValueError(f"unknown replay mode {mode!r}")
    rng = random.Random(int(mode.removeprefix("seed-")))
    pieces = []
    pos = 0
    while pos < len(data):
        size = rng.randint(1, rng.choice((2, 7, 31, 300, 5000)))
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


class _Open:
    __slots__ = ("body", "complete", "head")

    def __init__(self, head: RequestMessage) -> None:
        self.head = head
        self.body: list[bytes] = []
        self.complete = False


class Recorder:
    """A parser sink that keeps every event and notes any breach of the sink contract."""

    def __init__(self) -> None:
        self._messages: list[_Open] = []
        self.violations: list[str] = []

    def on_request(self, message: RequestMessage) -> None:
        if self._messages and not self._messages[-1].complete:
            self.violations.append(f"on_request({message!r}) before the previous completed")
        self._messages.append(_Open(message))

    def on_body(self, data: bytes) -> None:
        if not self._messages or self._messages[-1].complete:
            self.violations.append(f"on_body({data!r}) outside a message")
            return
        if not data:
            self.violations.append("on_body(b'')")
        self._messages[-1].body.append(data)

    def on_request_complete(self) -> None:
        if not self._messages or self._messages[-1].complete:
            self.violations.append("on_request_complete() outside a message")
            return
        self._messages[-1].complete = True

    def __len__(self) -> int:
        return len(self._messages)

    def messages(self) -> tuple[Message, ...]:
        return tuple(_snapshot(m) for m in self._messages)

    def heads(self) -> Iterator[RequestMessage]:
        return (m.head for m in self._messages)


def _snapshot(record: _Open) -> Message:
    head = record.head
    return Message(
        method=head.method,
        target=head.target.encode("ascii", "surrogateescape"),
        version=f"{head.version.major}.{head.version.minor}",
        headers=head.raw_headers,
        body=b"".join(record.body),
        keep_alive=head.keep_alive,
        upgrade=head.upgrade,
        chunked=head.chunked,
        content_length=head.content_length,
        expect_continue=head.expect_continue,
        trailers=head.trailers,
        complete=record.complete,
    )


@dataclass
class Replay:
    """The outcome of one replay plus the parser and sink, for follow-up checks."""

    outcome: Outcome
    parser: RequestParser
    recorder: Recorder
    error: HttpProcessingError | None


def replay(pieces: Sequence[bytes], limits: Limits | None = None) -> Replay:
    """Feed ``pieces`` in order; stop at the first error or when an upgrade hands back a tail.

    The tail of an upgrade is what ``feed`` returned plus every piece not yet fed, which is
    what a protocol would pass to the new protocol.
    """
    recorder = Recorder()
    parser = RequestParser(recorder, limits)
    error: HttpProcessingError | None = None
    tail: bytes | None = None
    for index, piece in enumerate(pieces):
        try:
            rest = parser.feed(piece)
        except HttpProcessingError as exc:
            error = exc
            break
        if rest is not None:
            tail = rest + b"".join(pieces[index + 1 :])
            break
    outcome = Outcome(
        messages=recorder.messages(),
        status=None if error is None else error.status,
        tail=tail,
    )
    return Replay(outcome=outcome, parser=parser, recorder=recorder, error=error)

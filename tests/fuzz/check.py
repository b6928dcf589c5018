"""What came back for one case, and whether the server behaved.

``scan_responses`` splits the bytes a client read into responses and keeps their statuses;
``judge`` turns a case's outcome into failures. The rules:

- a valid request sent unchanged is answered, and not with a refusal (400, 408, 413, ...);
- no 5xx, except 505 for a request whose version is a well-formed ``HTTP/x.y`` with a major
  version other than 1, and 501 for a Transfer-Encoding the server does not implement;
- the server answers or closes within the configured deadlines (no hang);
- what the server wrote parses as HTTP/1.1 responses (no garbage, nothing cut short).

Log records and loop errors are judged by the runner: they are not tied to one socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Outcome", "Reason", "Scan", "judge", "scan_responses"]

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) [^\r\n]*")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:;[^\r\n]*)?\r\n")
# RFC 9112 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, at the end of a request line.
# The method is not checked: a pipelined request line may follow a body on the same line.
# Runs of SP between the parts are allowed, as RFC 9112 3 lets a recipient parse them.
# RTSP and ICE stand in for HTTP here too: llhttp accepts those names and httptools does not
# say which it saw, so the server cannot tell them from HTTP (the corpus's known gap,
# tests/http/requests/valid/ notes ICE/1.0), and a major other than 1 is a 505 for them too.
_WELL_FORMED_VERSION = re.compile(rb"(?m) +[^ \r\n]+ +(?:HTTP|RTSP|ICE)/([0-9])\.[0-9]\r?$")
_TRANSFER_ENCODING = re.compile(rb"(?im)^transfer-encoding[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


@dataclass
class Scan:
    statuses: list[int] = field(default_factory=list)
    firsts: list[bytes] = field(default_factory=list)  # each body's first line, if any
    problem: str = ""  # why the rest of the bytes did not parse as responses
    upgraded: bool = False  # a 101 came; what follows it is the new protocol's


def _headers(head: bytes) -> dict[bytes, bytes]:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _chunked_end(data: bytes, pos: int) -> int | None:
    """Offset after a chunked body starting at ``pos``; None when it is cut short."""
    while True:
        m = _CHUNK_LINE.match(data, pos)
        if m is None:
            return None
        size = int(m[1], 16)
        pos = m.end()
        if size == 0:
            end = data.find(b"\r\n\r\n", pos - 2)  # trailers, then the blank line
            return None if end < 0 else end + 4
        pos += size
        if data[pos : pos + 2] != b"\r\n":
            return None
        pos += 2


def scan_responses(data: bytes) -> Scan:
    """Statuses of the responses in ``data``, in order.

    HEAD responses carry a Content-Length but no body, and the request that each response
    answers is not known here: a body is skipped only when what follows it is the end or
    another status line, and otherwise the next status line is looked for right after the
    head. Our handlers never send a body that begins with ``HTTP/1.``.
    """
    scan = Scan()
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            scan.problem = f"a response head cut short at offset {pos}"
            return scan
        head = data[pos:end]
        line = _STATUS_LINE.fullmatch(head.split(b"\r\n", 1)[0])
        if line is None:
            scan.problem = f"not a status line at offset {pos}: {head[:80]!r}"
            return scan
        status = int(line[1])
        scan.statuses.append(status)
        scan.firsts.append(b"")
        pos = end + 4
        if status == 101:
            scan.upgraded = True
            return scan
        if status < 200 or status in (204, 304):
            continue
        headers = _headers(head)
        body_end: int | None
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body_end = _chunked_end(data, pos)
        elif b"content-length" in headers:
            body_end = pos + int(headers[b"content-length"])
            if body_end > len(data):
                body_end = None
        else:
            body_end = len(data)  # delimited by the close
        if body_end is not None and (
            body_end == len(data) or data.startswith(b"HTTP/1.", body_end)
        ):
            scan.firsts[-1] = data[pos:body_end].split(b"\n", 1)[0][:200]
            pos = body_end
        elif pos == len(data) or data.startswith(b"HTTP/1.", pos):
            continue  # a response to HEAD
        else:
            scan.problem = f"a response body cut short at offset {pos} (status {status})"
            return scan
    return scan


def version_505_allowed(request: bytes) -> bool:
    """Whether some request line carries a well-formed version with a major other than 1."""
    return any(m[1] != b"1" for m in _WELL_FORMED_VERSION.finditer(request))


def unknown_coding_sent(request: bytes) -> bool:
    """Whether a Transfer-Encoding other than exactly ``chunked`` is in the request."""
    return any(m[1].lower() != b"chunked" for m in _TRANSFER_ENCODING.finditer(request))


@dataclass
class Outcome:
    """What the client saw for one case."""

    received: bytes
    closed: bool  # the server closed (FIN or RST) before the deadline
    reset: bool  # the close was a reset
    elapsed: float  # from the first byte sent to the close (or the deadline)
    scan: Scan = field(default_factory=Scan)
    error: str = ""  # the connection could not be made

    def labels(self) -> list[str]:
        """The histogram's words for this outcome: each status, or how it ended."""
        if self.error:
            return ["connect-failed"]
        labels = [str(s) for s in self.scan.statuses]
        if not self.closed:
            labels.append("hang")
        elif not labels:
            labels.append("reset-without-answer" if self.reset else "close-without-answer")
        elif self.reset:
            labels.append("reset-after-answer")
        if self.scan.problem:
            labels.append("unparsable")
        return labels


Reason = tuple[str, str]  # (the kind of failure, for grouping; the details of this case)


# What a valid request sent unchanged may get: the app's 404 and 405 are fine, a refusal is not.
_REFUSALS = frozenset({400, 408, 411, 413, 414, 431})


def judge(
    request: bytes, outcome: Outcome, deadline: float, *, pristine: bool = False
) -> list[Reason]:
    """The rules this case broke; empty when the server behaved.

    ``pristine``: the request is a valid seed, unchanged (only its pieces and half-close are
    random), so it must be answered, and not refused.
    """
    if outcome.error:
        return [("no connection", outcome.error)]
    failures = []
    if pristine:
        refused = sorted(_REFUSALS.intersection(outcome.scan.statuses))
        if refused:
            failures.append((f"valid request refused with {refused[0]}", ""))
        elif outcome.closed and not outcome.scan.statuses:
            failures.append(("valid request closed without an answer", ""))
    for status, first in zip(outcome.scan.statuses, outcome.scan.firsts, strict=True):
        if status < 500:
            continue
        if status == 505 and version_505_allowed(request):
            continue  # RFC 9110 15.6.6: a major version we do not speak
        if status == 501 and unknown_coding_sent(request):
            # 501 is a 5xx, but RFC 9112 6.1 says a server that receives a transfer coding
            # it does not understand SHOULD answer 501: allowed for that case only.
            continue
        # The body's first line says why (the default error response names the cause).
        failures.append((f"answered {status}: {first.decode('latin-1')}", ""))
    if not outcome.closed:
        failures.append(("hang", f"the connection was still open {deadline:.1f} s after sending"))
    if outcome.scan.problem and not outcome.scan.upgraded:
        failures.append(("unparsable output", outcome.scan.problem))
    return failures

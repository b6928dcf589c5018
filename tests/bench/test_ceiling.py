"""The ceiling apps (``bench/apps/ceiling.py``): the canned answer, in order and closing when
asked, and ``ceiling-task`` answering each request from a task of its own."""

from __future__ import annotations

import asyncio

import pytest

from bench.apps import ceiling

_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
_LAST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def _exchange(protocol: type[ceiling.Canned], data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    ceiling.response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    server = await loop.create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        answer = await asyncio.wait_for(reader.read(), 5)  # to EOF: the server closes
        writer.close()
        return answer
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("protocol", [ceiling.Canned, ceiling.Tasked])
async def test_pipelined_requests_get_one_answer_each_then_the_close(
    protocol: type[ceiling.Canned],
) -> None:
    answer = await _exchange(protocol, _GET * 2 + _LAST)
    assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" * 3


@pytest.mark.parametrize("protocol", [ceiling.Canned, ceiling.Tasked])
async def test_a_malformed_request_gets_400_and_the_close(protocol: type[ceiling.Canned]) -> None:
    answer = await _exchange(protocol, b"NOT HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_ceiling_task_answers_each_request_from_a_task_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks: list[asyncio.Task[object] | None] = []
    answer = ceiling.Tasked._answer

    async def recording(self: ceiling.Tasked, close: bool) -> None:
        tasks.append(asyncio.current_task())
        await answer(self, close)

    monkeypatch.setattr(ceiling.Tasked, "_answer", recording)
    await _exchange(ceiling.Tasked, _GET + _LAST)
    assert len(tasks) == 2
    assert None not in tasks
    assert tasks[0] is not tasks[1]
    assert asyncio.current_task() not in tasks

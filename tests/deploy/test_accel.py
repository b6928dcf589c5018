"""``runtime.web.accel``: X-Accel-Redirect responses and X-Accel-Buffering, without nginx.

The end-to-end tests (test_e2e.py) check what nginx makes of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from runtime import web
from runtime.testing.kit import TestClient
from runtime.web.accel import accel_redirect, content_disposition, no_proxy_buffering

MakeClient = Callable[..., Awaitable[TestClient]]


def test_accel_redirect_is_an_empty_response_with_the_header() -> None:
    response = accel_redirect("/_protected/reports/2024.pdf")
    assert response.status == 200
    assert response.headers["X-Accel-Redirect"] == "/_protected/reports/2024.pdf"
    assert response.body is None
    # No Content-Type: nginx then picks one from the file's extension.
    assert "Content-Type" not in response.headers
    assert "Content-Disposition" not in response.headers


def test_accel_redirect_options() -> None:
    response = accel_redirect(
        "/_protected/a b/é.txt",
        content_type="text/plain",
        filename="report.txt",
        limit_rate=1024,
        headers={"Cache-Control": "private, max-age=60"},
    )
    assert response.headers["X-Accel-Redirect"] == "/_protected/a%20b/%C3%A9.txt"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Disposition"] == "attachment; filename=report.txt"
    assert response.headers["X-Accel-Limit-Rate"] == "1024"
    assert response.headers["Cache-Control"] == "private, max-age=60"


@pytest.mark.parametrize(
    "path", ["relative/path", "/a/../etc/passwd", "/a?b=1", "/a#x", "/a\r\nX-Evil: 1", "/a\x00"]
)
def test_accel_redirect_refuses_unsafe_paths(path: str) -> None:
    with pytest.raises(ValueError):
        accel_redirect(path)


@pytest.mark.parametrize(
    ("filename", "inline", "expected"),
    [
        ("report.pdf", False, "attachment; filename=report.pdf"),
        ("report.pdf", True, "inline; filename=report.pdf"),
        ("my report.pdf", False, 'attachment; filename="my report.pdf"'),
        ('say "hi".txt', False, 'attachment; filename="say \\"hi\\".txt"'),
        (
            "résumé €.pdf",
            False,
            'attachment; filename="r?sum? ?.pdf"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.pdf",
        ),
    ],
)
def test_content_disposition(filename: str, inline: bool, expected: str) -> None:
    assert content_disposition(filename, inline=inline) == expected


@pytest.mark.parametrize("filename", ["", "a\nb", "a\x7f"])
def test_content_disposition_refuses(filename: str) -> None:
    with pytest.raises(ValueError):
        content_disposition(filename)


async def test_served_without_nginx(make_client: MakeClient) -> None:
    """Without nginx the client gets the empty 200 and the headers as they are."""

    async def download(request: web.Request) -> web.Response:
        return accel_redirect("/_protected/x.bin", filename="x.bin")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = no_proxy_buffering(web.StreamResponse())
        await response.prepare(request)
        with pytest.raises(RuntimeError, match="before prepare"):
            no_proxy_buffering(response)
        await response.write(b"tick\n")
        return response

    app = web.Application()
    app.router.add_get("/download", download)
    app.router.add_get("/stream", stream)
    client = await make_client(app)
    resp = await client.get("/download")
    assert resp.status == 200
    assert resp.headers["X-Accel-Redirect"] == "/_protected/x.bin"
    assert resp.headers["Content-Length"] == "0"
    assert await resp.read() == b""
    resp = await client.get("/stream")
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert await resp.read() == b"tick\n"

"""docs/faq.md, "How to use Berth's test features with code which works with an implicit
loop?": the test, which replaces the service where the application looks it up. Run it with
``pytest examples/faq/implicit_loop/test_main.py`` (tests/test_faq_examples.py does)."""

from __future__ import annotations

from unittest.mock import MagicMock, patch

from main import SearchService, create_app


async def test_cluster_name(make_client) -> None:
    fake = MagicMock(spec=SearchService)
    fake.info.return_value = {"cluster_name": "test"}  # spec makes info() awaitable
    with patch("main.SearchService", return_value=fake):
        client = await make_client(create_app)
        resp = await client.get("/")
        assert resp.status == 200
        assert await resp.text() == "test"

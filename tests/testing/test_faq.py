"""docs/faq.md's answer to "How to use Berth's test features with code which works with an
implicit loop?", as a user would write it today, and once more with aiohttp's old
(deprecated) fixture names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from unittest.mock import MagicMock, patch

import pytest

from runtime.testing.kit import TestClient
from tests.testing import aioes_app
from tests.testing.aioes_app import AioESService, create_app

MakeClient = Callable[..., Awaitable[TestClient]]


class TestAioESService:
    async def test_get_info(self) -> None:
        cluster_info = await AioESService("random_arg").get_info()
        assert isinstance(cluster_info, dict)
        assert cluster_info["hosts"] == ["random_arg"]


class TestAcceptance:
    async def test_get(self, make_client: MakeClient) -> None:
        created: list[AioESService] = []

        def make_service(*args: Any, **kwargs: Any) -> AioESService:
            service = AioESService(*args, **kwargs)
            created.append(service)
            return service

        with patch(f"{aioes_app.__name__}.AioESService", MagicMock(side_effect=make_service)):
            client = await make_client(create_app)
            resp = await client.get("/")
            assert resp.status == 200
            assert "'cluster_name': 'fake'" in await resp.text()
        assert len(created) == 1

    async def test_get_with_a_fake_service(self, make_client: MakeClient) -> None:
        fake = MagicMock()

        async def get_info() -> dict[str, str]:
            return {"cluster_name": "patched"}

        fake.return_value.get_info = get_info
        with patch(f"{aioes_app.__name__}.AioESService", fake):
            client = await make_client(create_app())
            resp = await client.get("/")
            assert await resp.text() == "{'cluster_name': 'patched'}"


@pytest.mark.filterwarnings("ignore:The 'test_client' fixture is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'loop' fixture is deprecated:DeprecationWarning")
class TestOldFixtureNames:
    """The FAQ's code with its fixture names: they still work (and warn, see
    test_plugin.py::test_old_fixture_names_warn)."""

    async def test_get(self, test_client: MakeClient, loop: asyncio.AbstractEventLoop) -> None:
        assert asyncio.get_running_loop() is loop
        with patch(
            f"{aioes_app.__name__}.AioESService",
            # The FAQ's spelling, kept on purpose: it forwards whatever the caller passes.
            MagicMock(side_effect=lambda *args, **kwargs: AioESService(*args, **kwargs)),  # noqa: PLW0108
        ):
            client = await test_client(create_app)
            resp = await client.get("/")
            assert resp.status == 200

"""``ChainMapProxy``: read-only lookup through a chain of applications, innermost first
(``request.config_dict``, aiohttp's name:
https://docs.aiohttp.org/en/stable/web_reference.html#aiohttp.web.Request.config_dict)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload

from .keys import AppKey

__all__ = ["ChainMapProxy"]

_T = TypeVar("_T")


class ChainMapProxy(Mapping[str | AppKey[Any], Any]):
    """Read-only lookup through several mappings, first match wins (``config_dict``)."""

    __slots__ = ("_maps",)

    def __init__(self, maps: Iterable[Mapping[Any, Any]]) -> None:
        self._maps = tuple(maps)

    def __init_subclass__(cls) -> None:
        raise TypeError(f"Subclassing ChainMapProxy ({cls.__name__}) is not supported")

    @overload
    def __getitem__(self, key: AppKey[_T]) -> _T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: Any) -> Any:
        for mapping in self._maps:
            try:
                return mapping[key]
            except KeyError:
                pass
        raise KeyError(key)

    def __len__(self) -> int:
        return len(set().union(*self._maps))

    def __iter__(self) -> Iterator[Any]:
        # aiohttp's order: the outermost application's keys first, then each inner one's new
        # keys (a dict built root first).
        return iter(dict.fromkeys(key for mapping in reversed(self._maps) for key in mapping))

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self._maps)

    def __bool__(self) -> bool:
        return any(self._maps)

    def __repr__(self) -> str:
        return f"ChainMapProxy({', '.join(map(repr, self._maps))})"

"""``FrozenList`` and ``Signal``: lists of callbacks that lock when the application starts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["FrozenList", "Signal"]

T = TypeVar("T")


class FrozenList(MutableSequence[T], Generic[T]):
    """A list that refuses changes after :meth:`freeze`, saying what was refused."""

    __slots__ = ("_frozen", "_items", "_what")

    def __init__(self, items: Iterable[T] = (), *, what: str = "list") -> None:
        self._items = list(items)
        self._frozen = False
        self._what = what

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        self._frozen = True

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError(
                f"Cannot modify {self._what}: the application is frozen once it starts "
                "(or is added as a sub-application); make changes before that"
            )

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self._items[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check()
        self._items[index] = value

    def __delitem__(self, index: int | slice) -> None:
        self._check()
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._items)

    def insert(self, index: int, value: T) -> None:
        self._check()
        self._items.insert(index, value)

    def __eq__(self, other: object) -> bool:
        return list(self) == other

    def __hash__(self) -> int:
        if not self._frozen:
            raise RuntimeError("Cannot hash unfrozen list.")
        return hash(tuple(self._items))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(frozen={self._frozen}, {self._items!r})>"


class Signal(FrozenList[Any]):
    """Callbacks awaited in order by :meth:`send` (``app.on_startup`` and friends)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: object, *, name: str = "signal") -> None:
        super().__init__(what=name)
        self._owner = owner

    async def send(self, *args: Any, **kwargs: Any) -> None:
        if not self._frozen:
            raise RuntimeError("Cannot send non-frozen signal.")
        for receiver in self._items:
            await receiver(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Signal {self._what} owner={self._owner!r} frozen={self._frozen} {self._items!r}>"

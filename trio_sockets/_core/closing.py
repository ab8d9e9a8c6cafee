"""``with handle:`` for the library's channel handles, as trio's memory channels have it."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TYPE_CHECKING, Self

__all__ = ["ClosesOnExit"]


class ClosesOnExit(abc.ABC):
    """Mixin: ``with handle:`` closes the handle (:meth:`close`) when the block ends."""

    if not TYPE_CHECKING:
        __slots__ = ()

    @abc.abstractmethod
    def close(self) -> None:
        """Close this handle."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

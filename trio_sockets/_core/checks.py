"""Argument checks shared by the public setters and size arguments, and the one way a
bad value is shown in an error message.

An error names the bad value, but the value may be a 10 MB string, a 10**400 int whose
``repr`` Python refuses (over 4300 digits), or an object whose ``repr`` fails: every
message shows it through :func:`shown`, which is bounded whatever the value.
"""

from __future__ import annotations

import enum
import math
import reprlib
from collections.abc import Iterable
from typing import Any, NoReturn, Self, SupportsIndex, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

__all__ = [
    "MAX_SHOWN",
    "CheckedList",
    "SealedList",
    "Uncopyable",
    "check_bool",
    "check_enum",
    "check_int",
    "check_seconds",
    "describe",
    "quoted",
    "shown",
]

#: The longest :func:`shown` text, in characters.
MAX_SHOWN = 80
# Ints up to this many bits are shown in full (39 digits); larger ones by their size.
_MAX_SHOWN_BITS = 128

_REPR = reprlib.Repr()
_REPR.maxstring = MAX_SHOWN
_REPR.maxother = MAX_SHOWN
_REPR.maxlong = MAX_SHOWN


class Uncopyable:
    """A control object: a view of its socket's settings. ``copy.copy``, ``deepcopy``
    and pickling raise :exc:`TypeError` (a copy would still drive the same socket)."""

    __slots__ = ()

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(
            f"a {type(self).__name__} cannot be copied or pickled: it belongs to its "
            "socket, and a copy would change that same socket; read the settings you "
            "need from its properties instead"
        )


def shown(value: object) -> str:
    """*value* for an error message: its ``repr``, cut to at most :data:`MAX_SHOWN`
    characters (a long string keeps its start and end)."""
    if isinstance(value, int) and value.bit_length() > _MAX_SHOWN_BITS:
        sign = "-" if value < 0 else ""
        return f"{sign}<an int of {value.bit_length()} bits>"
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails must not hide the error being reported
        text = f"<{type(value).__name__} object>"
    if len(text) > MAX_SHOWN:
        text = f"{text[: MAX_SHOWN - 3]}..."
    return text


#: The longest :func:`quoted` text, in characters: a library's explanation (about 40)
#: and at most about :data:`MAX_SHOWN` of what the other side sent.
MAX_QUOTED = 120


def quoted(text: object) -> str:
    """The text of a message that quotes what the other side of a connection sent (a
    library's exception that repeats a header value), for an error message: characters
    that are not printable escaped as ``repr`` escapes them (so that no control
    character, C1's CSI included, reaches a terminal or a log raw), and cut to at most
    :data:`MAX_QUOTED` characters, keeping its start and end."""
    raw = str(text)
    whole = _escaped(raw[: MAX_QUOTED + 1])
    if len(whole) <= MAX_QUOTED:
        return whole
    head = MAX_QUOTED * 3 // 4
    return f"{whole[:head]}...{_escaped(raw[-MAX_QUOTED:])[head + 3 - MAX_QUOTED :]}"


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(value: object) -> str:
    """Type and :func:`shown` form of a bad argument: ``"str 'abc'"``."""
    return f"{type(value).__name__} {shown(value)}"


def check_bool(name: str, value: object) -> bool:
    """*value* if it is a bool; else :exc:`TypeError` naming *name* and the value."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {describe(value)}")
    return value


def check_enum(name: str, value: object, kind: type[E]) -> E:
    """*value* if it is a member of the enum *kind*; else :exc:`TypeError` naming *name*
    and the value.

    Plain ints, and members of other enums with the same number, are refused on
    purpose: the members carry WinRT's numbers, but ``control.message_type = 1`` (or
    ``ByteOrder.BIG_ENDIAN``, also 1) would hide which setting a line of code means.
    """
    if not isinstance(value, kind):
        article = "an" if kind.__name__[0] in "AEIO" else "a"  # "a UnicodeEncoding"
        raise TypeError(f"{name} must be {article} {kind.__name__}, not {describe(value)}")
    return value


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """*value* if it is an int from *low* to *high* (no upper bound when None).

    Raises :exc:`TypeError` for anything but an int, a bool included (``True`` for a size
    is a mix-up, not a 1), and :exc:`ValueError` out of range; both name *name* and the
    value.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {describe(value)}")
    if value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an int {span}, not {shown(value)}")
    return value


def check_seconds(name: str, value: object, *, optional: bool) -> float | None:
    """*value* as a float number of seconds: finite and more than 0 (None too when
    *optional*, meaning no limit).

    Raises :exc:`TypeError` for anything but an int or a float (a bool included) and
    :exc:`ValueError` for 0, a negative number, NaN, infinity (say None for no limit) or
    an int too large for a float; both name *name* and the value.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        allowed = "None or a number of seconds" if optional else "a number of seconds"
        raise TypeError(f"{name} must be {allowed}, not {describe(value)}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not (seconds > 0 and math.isfinite(seconds)):
        hint = " (None means no limit)" if optional and seconds == math.inf else ""
        raise ValueError(
            f"{name} must be a finite number of seconds above 0{hint}, not {shown(value)}"
        )
    return seconds


class SealedList(list[T]):
    """A list setting that can no longer change: it reads as a list, and every change
    raises :exc:`RuntimeError` with *why* (rather than being silently ignored)."""

    __slots__ = ("_why",)

    def __init__(self, items: list[T], why: str) -> None:
        super().__init__(items)
        self._why = why

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(self._why)

    def __reduce__(self) -> tuple[type[list[T]], tuple[list[T]]]:
        # A copy (copy, deepcopy, pickle) is a plain list, free to change.
        return list, (list(self),)

    append = extend = insert = remove = pop = clear = reverse = _refuse
    sort = _refuse  # pyright: ignore[reportAssignmentType] - list.sort is overloaded
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


class CheckedList(list[T]):
    """A list setting that takes only instances of *kind*: what goes into it --
    ``append``, ``insert``, ``extend``, ``+=``, item and slice assignment, and the items
    it starts with -- is checked first, and anything else raises :exc:`TypeError` naming
    the setting *name* and the value, the list left as it was. It is a list in every
    other way (reading, removing, sorting)."""

    __slots__ = ("_kind", "_name")

    def __init__(self, items: Iterable[T], kind: type[T], name: str) -> None:
        self._kind = kind
        self._name = name
        super().__init__(self._checked(items))

    def _check(self, item: object) -> T:
        if not isinstance(item, self._kind):
            raise TypeError(
                f"{self._name} must hold {self._kind.__name__} objects, not {describe(item)}"
            )
        return item

    def _checked(self, items: Iterable[T]) -> list[T]:
        # All of them before any goes in: a refused change changes nothing.
        if isinstance(items, (str, bytes, bytearray, self._kind)) or not isinstance(
            items, Iterable
        ):
            raise TypeError(
                f"{self._name} takes an iterable of {self._kind.__name__} objects, "
                f"not {describe(items)}"
            )
        return [self._check(item) for item in items]

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy (copy, deepcopy, pickle) checks as the original does.
        return type(self), (list(self), self._kind, self._name)

    def append(self, item: T) -> None:
        super().append(self._check(item))

    def insert(self, index: SupportsIndex, item: T) -> None:
        super().insert(index, self._check(item))

    def extend(self, items: Iterable[T]) -> None:
        super().extend(self._checked(items))

    def __iadd__(self, items: Iterable[T]) -> Self:  # type: ignore[override, misc] # as list's
        return super().__iadd__(self._checked(items))

    def __setitem__(self, index: SupportsIndex | slice, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, self._checked(value))
        else:
            super().__setitem__(index, self._check(value))

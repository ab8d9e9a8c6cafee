"""What :class:`DataReader` and :class:`DataWriter` share: the stream they own, and how
they give it up or close it (WinRT's ``DetachStream`` and ``Close``, with ``with`` and
``async with``), and the errors they raise for a missing stream or missing bytes."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Generic, NoReturn, Self, SupportsIndex, TypeVar

import trio

from .._core.checks import shown
from .._core.closing import ClosesOnExit
from .interfaces import InputStream, OutputStream

__all__ = ["InsufficientDataError", "NoStreamError", "StreamOwner", "is_closed", "plural"]


def plural(count: int, noun: str) -> str:
    """*count* and *noun*, plural unless *count* is 1: ``1 byte``, ``2 bytes`` (a huge
    count in the bounded form of :func:`~trio_sockets._core.checks.shown`)."""
    return f"{count} {noun}" if count == 1 else f"{shown(count)} {noun}s"


class InsufficientDataError(EOFError):
    """A ``read_*`` call asked for more bytes than the reader has loaded.

    Nothing was consumed: after ``await reader.load(...)`` the same read can be retried,
    unless the stream has ended (the last load met its end: a peer that closed early),
    which the message then says. :attr:`needed` is the size the read wanted and
    :attr:`available` what was loaded.
    """

    def __init__(self, message: str, *, needed: int = 0, available: int = 0) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available

    @classmethod
    def of_read(
        cls, where: str, size: int, available: int, has_stream: bool, ended: bool = False
    ) -> InsufficientDataError:
        """The error of a read *where* that needs *size* bytes with *available* loaded
        (*ended*: the reader's last load met the end of its stream)."""
        loaded = "is loaded" if available == 1 else "are loaded"
        hint = "; await load() first"
        if not has_stream:
            hint = " and this reader has no stream to load more from"
        elif ended:
            hint = " and the stream has ended: no load() can bring more"
        return cls(
            f"{where} needs {plural(size, 'byte')} but only {available} {loaded}{hint}",
            needed=size,
            available=available,
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes are not in args; carry them as state so pickling keeps them.
        return (type(self), self.args, {"needed": self.needed, "available": self.available})


class NoStreamError(RuntimeError):
    """A :class:`DataReader` or :class:`DataWriter` was asked for I/O but has no stream.

    Raised by ``load``/``store``/``flush``/``detach_stream`` on a reader made by
    :meth:`DataReader.from_buffer` or handed out by ``args.get_data_reader()`` (which holds
    the whole datagram or message), a writer made without a stream, or either after
    ``detach_stream()``; the message says which. It is a :exc:`RuntimeError` because the
    call is valid in general and only wrong for the state the object is in; it is not a
    closed object (:exc:`trio.ClosedResourceError`) and not a bad argument.
    """


_S = TypeVar("_S", InputStream, OutputStream)


class StreamOwner(ClosesOnExit, Generic[_S]):
    """The stream of a reader or writer, owned until detached or closed.

    ``_busy`` is the I/O call in progress, such as ``"load()"``, or ``""``. The subclass
    names itself in the class variables below, for the messages, and drops the bytes it
    holds in :meth:`_discard`.
    """

    _closed: bool
    _detached: bool
    _stream: _S | None
    _busy: str

    #: ``"DataReader"``; its stream, ``"input stream"``; its variable in a hint, ``"reader"``.
    _NAME: ClassVar[str]
    _STREAM_NAME: ClassVar[str]
    _VARIABLE: ClassVar[str]
    #: Why an object never had a stream, and when a plain ``with`` is allowed.
    _WITHOUT_STREAM: ClassVar[str]
    _PLAIN_WITH: ClassVar[str]

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Without this, copy.copy() made a second object sharing the buffer and stream.
        raise TypeError(
            f"a {self._NAME} cannot be copied or pickled: it owns its {self._STREAM_NAME}, "
            "if it has one, and the bytes it holds (detach_buffer() takes those)"
        )

    def _own(self, stream: _S | None) -> None:
        self._stream = stream
        self._detached = False
        self._closed = False
        self._busy = ""

    def _closed_error(self, where: str) -> trio.ClosedResourceError:
        return trio.ClosedResourceError(f"{where}: this {self._NAME} is closed")

    def _check_not_busy(self, where: str) -> None:
        if self._closed:
            raise self._closed_error(where)
        if self._busy:
            raise trio.BusyResourceError(
                f"{where}: a {self._busy} is in progress on this {self._NAME}"
            )

    def _require_stream(self, where: str) -> _S:
        if self._closed:
            raise self._closed_error(where)
        if self._stream is None:
            if self._detached:
                reason = "its stream was detached with detach_stream()"
            else:
                reason = self._WITHOUT_STREAM
            raise NoStreamError(f"{where}: this {self._NAME} has no {self._STREAM_NAME}: {reason}")
        return self._stream

    def _discard(self) -> None:
        """Drop the bytes held: the object is closing."""
        raise NotImplementedError

    def _release(self, stream: _S) -> None:
        """Let go of *stream*, which is detached or closing (a reader gives back what
        the stream lent it)."""

    def detach_stream(self) -> _S:
        """Give up the stream and return it, so closing this object leaves it open.

        The bytes held stay. Raises :exc:`NoStreamError` without a stream,
        :exc:`trio.ClosedResourceError` once closed and :exc:`trio.BusyResourceError` while a
        ``load``/``store`` is in progress.
        """
        self._check_not_busy("detach_stream")
        stream = self._require_stream("detach_stream")
        self._stream = None
        self._detached = True
        self._release(stream)
        return stream

    async def aclose(self) -> None:
        """Close this object **and its stream** unless the stream was detached (WinRT
        ``Close``).

        For a socket's ``input_stream`` that stream object stops reading, and a socket's
        ``output_stream`` is flushed and takes no more writes; the socket stays open. Call
        :meth:`detach_stream` first to keep the stream. Bytes not yet read or stored are
        discarded (as WinRT does); later calls raise :exc:`trio.ClosedResourceError`.
        Closing again does nothing.

        Cancellation: this object is closed at once, even if the call is cancelled while
        the stream is closing; the stream's own ``aclose`` decides what a cancel does to it.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        stream = self._stream
        self._mark_closed()
        if stream is None:
            await trio.lowlevel.checkpoint()
        else:
            await stream.aclose()

    def close(self) -> None:
        """Close an object that owns no stream (made without one, or detached); bytes not
        yet read or stored are discarded.

        Raises :exc:`RuntimeError` while it still owns its stream: closing that stream
        needs I/O, so use ``await aclose()``, or :meth:`detach_stream` first.
        """
        if self._closed:
            return
        if self._stream is not None:
            raise RuntimeError(
                f"close() can't close this {self._NAME}'s {self._STREAM_NAME} synchronously; "
                f"use 'await {self._VARIABLE}.aclose()' (or 'async with'), or detach_stream() "
                "first"
            )
        self._mark_closed()

    def _mark_closed(self) -> None:
        stream = self._stream
        self._closed = True
        self._stream = None
        if stream is not None:
            self._release(stream)
        self._discard()

    def __enter__(self) -> Self:
        """Enter a ``with`` block; only without a stream (see :meth:`close`)."""
        if self._stream is not None:
            raise RuntimeError(
                f"a {self._NAME} that owns an {self._STREAM_NAME} needs 'async with' (closing "
                f"it closes the stream); use a plain 'with' only {self._PLAIN_WITH}"
            )
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def is_closed(owner: StreamOwner[Any]) -> bool:
    """Whether *owner* (a DataReader or DataWriter) was closed."""
    return owner._closed

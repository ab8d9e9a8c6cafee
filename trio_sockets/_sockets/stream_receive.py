"""The receiving side of a ``StreamSocket``: its receiver and its input stream.

A :class:`StreamReceiver` is made when the socket connects. It lets one task receive at
a time, keeps what ``input_stream.read`` read ahead, and receives from the plain socket
or through the TLS session in force. It knows the socket only through the callables it
is given: where to register the cancel scope of a wait (so that ``cancel_io()`` and a
close end it), the error such an ended wait raises, and the socket's name for messages.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import trio

from .._core.codec import check_count, check_input_stream_options
from .._core.enums import InputStreamOptions
from .._core.errors import translate_os_error
from .._core.lifecycle import ConflictDetector
from .._data.interfaces import InputStream
from .._io.scoped import AbortableWait, SocketWait
from .._io.sending import UNATTENDED, receive_sending
from .._io.sockio import abnormal_end, ended_abnormally, nothing_to_read
from .._tls.session import TlsSession

__all__ = ["DEFAULT_RECEIVE_SIZE", "MAX_RECEIVE_SIZE", "SocketInputStream", "StreamReceiver"]

# The options' bits as plain ints: a flag enum's "in" and "&" run Python code per call,
# a cost every read paid twice.
_PARTIAL_BIT = int(InputStreamOptions.PARTIAL)
_READ_AHEAD_BIT = int(InputStreamOptions.READ_AHEAD)
_KNOWN_BITS = _PARTIAL_BIT | _READ_AHEAD_BIT

#: ``receive_some()`` without a size asks the kernel for at most this many bytes.
DEFAULT_RECEIVE_SIZE = 65536
#: One receive asks the kernel (or the TLS layer) for at most this many bytes, whatever
#: size the caller gave: Python allocates the whole size up front, so
#: ``receive_some(2**45)`` would fail with an empty MemoryError.
MAX_RECEIVE_SIZE = 4 * 1024 * 1024


class Reader(Protocol):
    """The socket's read: ``read(count, options=NONE)``, as ``input_stream.read``."""

    def __call__(self, count: int, options: InputStreamOptions = ..., /) -> Awaitable[bytes]: ...


class StreamReceiver:
    """The receiving side of one connected socket (see the module docstring)."""

    __slots__ = (
        "_aborted",
        "_drained",
        "_lent",
        "_read_ended",
        "_reading",
        "_scope_done",
        "_scopes",
        "_sock",
        "_tls_scope",
        "_wait",
        "_where",
        "buffer",
        "conflict",
        "session",
    )

    def __init__(
        self,
        sock: socket.socket,
        scopes: list[AbortableWait],
        scope_done: Callable[[AbortableWait], None],
        aborted: Callable[[str], Exception],
        where: Callable[[], str],
    ) -> None:
        self._sock = sock
        self._scopes = scopes
        self._scope_done = scope_done
        self._aborted = aborted
        self._where = where
        self._wait: SocketWait | None = None  # made by the first receive that waits
        # The last read took less than it asked for: the socket was left empty, so the
        # next read asks the kernel first rather than meet an empty read's exception.
        self._drained = False
        self._tls_scope: trio.CancelScope | None = None  # a TLS receive's, while it waits
        # Whether input_stream.read is under way, and whether its stream closed meanwhile.
        self._reading = False
        self._read_ended = False
        #: What ``input_stream.read`` received beyond what it returned.
        self.buffer = bytearray()
        # Who borrowed what the buffer held (lend_read_ahead): called to give back what
        # it has not used before anything else reads the buffer.
        self._lent: Callable[[], bytes] | None = None
        self.conflict = ConflictDetector("another task is receiving on this StreamSocket")
        #: The TLS session in force; None on plain TCP.
        self.session: TlsSession | None = None

    async def receive_some(self, max_bytes: int) -> bytes:
        """``StreamSocket.receive_some`` once the size is checked (documented there)."""
        with self.conflict:
            if self._lent is not None:
                self.reclaim()
            buffered = self.buffer
            if buffered:
                # Bytes taken out of the buffer must be returned: a cancellation may
                # come only before they are taken (trio's checkpoint rule).
                await trio.lowlevel.checkpoint_if_cancelled()
                data = bytes(buffered[:max_bytes])
                del buffered[:max_bytes]
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
            return await self._recv(max_bytes)

    def lend_read_ahead(self, give_back: Callable[[], bytes]) -> bytes | bytearray:
        """``input_stream.lend_read_ahead`` (documented on :class:`InputStream`)."""
        if self._lent is not None and self._lent != give_back:
            self.reclaim()  # another borrower's bytes come first
        buffered = self.buffer
        # No receive is under way while the buffer holds bytes (one that waits has
        # taken them, and puts back what it does not return only as it ends, with
        # nothing awaited after), so the buffer lent is no receive's to fill.
        if not buffered:
            return b""
        self.buffer = bytearray()
        self._lent = give_back
        return buffered

    def return_read_ahead(self, give_back: Callable[[], bytes]) -> None:
        """``input_stream.return_read_ahead`` (documented on :class:`InputStream`)."""
        if self._lent is not None and self._lent == give_back:
            self.reclaim()

    def end_read(self) -> None:
        """The input stream closed: end an ``input_stream.read`` under way at once. What
        it received stays in the buffer, and it raises :exc:`trio.ClosedResourceError`
        (a ``receive_some`` under way goes on)."""
        if not self._reading:
            return
        self._read_ended = True
        wait: AbortableWait | None = self._tls_scope if self.session is not None else self._wait
        if wait is not None and wait in self._scopes:
            wait.cancel()

    def _closed_during_read(self) -> trio.ClosedResourceError:
        return trio.ClosedResourceError(
            f"input_stream.read(): the input stream of {self._where()} was closed during the read"
        )

    def reclaim(self) -> None:
        """Take back what was lent: what the borrower did not use goes back in front of
        the buffer."""
        give_back = self._lent
        self._lent = None
        if give_back is not None:
            data = give_back()
            if data:
                self.buffer[:0] = data

    def unread(self) -> int:
        """The bytes received and not yet read (what a borrower holds included)."""
        if self._lent is not None:
            self.reclaim()
        return len(self.buffer)

    def discard(self) -> None:
        """Drop every byte received and not yet read, lent ones included: the socket
        closed."""
        if self._lent is not None:
            self.reclaim()
        self.buffer.clear()

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """``input_stream.read`` (documented on :class:`SocketInputStream`)."""
        # One coroutine, not a checking one around a reading one: a framed message's
        # two loads pass through here, and each coroutine layer costs every await.
        if type(count) is not int or count < 0:  # the common case in one test
            check_count(count, "input_stream.read")
        if type(options) is not InputStreamOptions or not 0 <= options <= _KNOWN_BITS:
            check_input_stream_options(options, "options")  # raises
        with self.conflict:
            self._reading = True
            self._read_ended = False
            try:
                if self._lent is not None:
                    self.reclaim()
                if count == 0:
                    await trio.lowlevel.checkpoint()
                    return b""
                bits = int(options)
                partial = bits & _PARTIAL_BIT
                # READ_AHEAD: each receive asks for 64 KiB, or for what is still needed
                # if more: at most one receive of surplus is kept.
                chunk = DEFAULT_RECEIVE_SIZE if bits & _READ_AHEAD_BIT else 0
                buffered = self.buffer
                if not buffered:
                    # The common case: one receive answers the read, and its bytes are
                    # returned as they came, without a copy into an accumulating buffer.
                    # Nothing awaits between the receive and the return, so a cancel cannot
                    # strand them.
                    data = await self._recv(max(count, chunk))
                    if self._read_ended:  # the stream closed while it waited: keep the bytes
                        buffered += data
                        raise self._closed_during_read()
                    if len(data) > count:
                        buffered += memoryview(data)[count:]
                        return data[:count]
                    if partial or len(data) == count or not data:
                        return data
                    out = bytearray(data)
                else:
                    # Served from the read-ahead: a cancel point, checked before any byte
                    # leaves the buffer, but not a schedule point; a read that goes on to the
                    # kernel yields there (docs/design.rst, "Receives served from what was
                    # already read").
                    await trio.lowlevel.checkpoint_if_cancelled()
                    out = buffered[:count]
                    del buffered[:count]
                    if len(out) == count or partial:
                        return bytes(out)
                try:
                    while len(out) < count:  # NONE: a PARTIAL read has returned above
                        need = count - len(out)
                        data = await self._recv(max(need, chunk))
                        if self._read_ended:  # as above; the handler below keeps them
                            out += data
                            raise self._closed_during_read()
                        if not data:
                            break
                        if len(data) > need:
                            buffered += memoryview(data)[need:]
                            data = data[:need]
                        out += data
                except BaseException:
                    # Whatever arrived before the failure or cancellation stays readable.
                    buffered[:0] = out
                    raise
                return bytes(out)
            finally:
                self._reading = False

    async def _recv(self, max_bytes: int) -> bytes:
        # The receive hot path: try at once, and only around an actual wait register
        # what cancel_io() needs to end it: a SocketWait, not a cancel scope, which
        # would cost about a fifth of a small echo's round trip.
        max_bytes = min(max_bytes, MAX_RECEIVE_SIZE)
        if self.session is not None:
            return await self._recv_tls(self.session, max_bytes)
        sock = self._sock
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            if not (self._drained and nothing_to_read(sock)):
                try:
                    data = sock.recv(max_bytes) or self._end_of_stream(sock)
                except BlockingIOError:
                    pass
                else:
                    self._drained = len(data) < max_bytes
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return data
            wait = self._wait
            if wait is None:
                wait = self._wait = SocketWait(sock)
            self._scopes.append(wait)
            try:
                while True:
                    if UNATTENDED:  # writes no task sends may be waiting on this socket
                        await receive_sending(sock, partial(trio.lowlevel.wait_readable, sock))
                    else:
                        await trio.lowlevel.wait_readable(sock)
                    try:
                        data = sock.recv(max_bytes) or self._end_of_stream(sock)
                    except BlockingIOError:
                        continue
                    self._drained = len(data) < max_bytes
                    return data
            except trio.ClosedResourceError:
                pass  # cancel_io() or a close woke the wait: aborted, below
            finally:
                self._scope_done(wait)
        except OSError as exc:
            if sock.fileno() == -1:
                raise trio.ClosedResourceError(f"{self._where()} was closed") from None
            ended_abnormally(sock, exc)
            raise translate_os_error(exc, f"receive on {self._where()}", broken=True) from exc
        raise self._closed_during_read() if self._read_ended else self._aborted("receive")

    @staticmethod
    def _end_of_stream(sock: socket.socket) -> bytes:
        """``b""`` where the peer ended its stream. Where the connection ended abnormally
        instead -- a reset or a timeout that an earlier receive or a send met -- raises
        it again: Linux reports it to one system call only, and a receive after that one
        finds an end of stream, which would pass a cut stream off as complete."""
        error = abnormal_end(sock)
        if error is None:
            return b""
        raise OSError(
            error.errno, f"{error.strerror} (reported earlier; the peer did not end the stream)"
        )

    async def _recv_tls(self, session: TlsSession, max_bytes: int) -> bytes:
        scope = self._tls_scope = trio.CancelScope()
        self._scopes.append(scope)
        try:
            with scope:
                if UNATTENDED:  # writes no task sends may be waiting on this socket
                    receive = partial(session.receive, max_bytes, self._where)
                    return await receive_sending(self._sock, receive)
                return await session.receive(max_bytes, self._where)
        finally:
            self._tls_scope = None
            self._scope_done(scope)
        # Reached only when cancel_io(), a close or the input stream's close cancelled it.
        raise self._closed_during_read() if self._read_ended else self._aborted("receive")


class SocketInputStream(InputStream):
    """The input stream of a :class:`StreamSocket` (WinRT ``IInputStream``)."""

    keeps_read_ahead = True  # the surplus stays the socket's (lent to a DataReader)

    def __init__(self, read: Reader, receiver: Callable[[], StreamReceiver | None]) -> None:
        """*read* is the socket's read; *receiver* gives its receiving side, or None
        before it receives and once it is closed."""
        self._closed = False
        self._socket_read = self._read = read
        self._receiver = receiver
        self.bind(receiver())

    def bind(self, receiver: StreamReceiver | None) -> None:
        """Read and lend through *receiver*, the socket's receiving side, from now on:
        once the socket has one; through the socket's read (and lend nothing) again
        once it closes, with None.

        The receiver's methods are set on the instance, over those of the class, so
        that a call goes straight to them: a framed message's loads come here, and
        every layer costs a call and, for ``read``, a coroutine. The methods below
        document the calls and answer them before the socket receives and once the
        stream is closed (:meth:`aclose` takes the instance's away).
        """
        self._read = self._socket_read if receiver is None else receiver.read
        if self._closed:
            return
        attributes = vars(self)
        if receiver is None:
            attributes.pop("read", None)
            attributes.pop("lend_read_ahead", None)
        else:
            attributes["read"] = receiver.read
            attributes["lend_read_ahead"] = receiver.lend_read_ahead

    async def read(
        self, count: int, options: InputStreamOptions = InputStreamOptions.NONE
    ) -> bytes:
        """Read up to *count* bytes; ``b""`` means the peer closed its side.

        ``NONE`` waits for *count* bytes (fewer only at end of stream), ``PARTIAL``
        returns what the first receive brings, ``READ_AHEAD`` receives up to 64 KiB per
        system call and keeps the surplus for the next read.

        A read the read-ahead answers in full checks for cancellation but does not
        yield to the scheduler; one that receives from the kernel is a full checkpoint.

        Cancellation: bytes already received stay buffered for the next read; nothing
        is lost and the socket stays usable.
        """
        if self._closed:
            raise trio.ClosedResourceError("this input stream was closed")
        return await self._read(count, options)

    def lend_read_ahead(self, give_back: Callable[[], bytes]) -> bytes | bytearray:
        """Lend what the socket read ahead (see :meth:`InputStream.lend_read_ahead`);
        nothing once this stream is closed."""
        receiver = None if self._closed else self._receiver()
        return b"" if receiver is None else receiver.lend_read_ahead(give_back)

    def return_read_ahead(self, give_back: Callable[[], bytes]) -> None:
        """Take back what was lent to *give_back* (see
        :meth:`InputStream.return_read_ahead`)."""
        receiver = self._receiver()
        if receiver is not None:
            receiver.return_read_ahead(give_back)

    async def aclose(self) -> None:
        """Stop reading through this stream object; the socket stays open, and what was
        read ahead (lent bytes included) stays the socket's."""
        self._closed = True
        attributes = vars(self)
        attributes.pop("read", None)
        attributes.pop("lend_read_ahead", None)
        receiver = self._receiver()
        if receiver is not None:
            receiver.end_read()
            receiver.reclaim()
        await trio.lowlevel.checkpoint()

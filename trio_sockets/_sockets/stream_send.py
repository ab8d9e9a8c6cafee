"""The sending side of a ``StreamSocket``: ``output_stream`` and trio's send methods.

:class:`StreamSending` is a base class of the socket, as
:class:`~trio_sockets._io.scoped.NurseryScoped` is: it holds no state of its own, and
asks the socket for what it needs (its stdlib socket, its name, its nursery). The
output stream and the detector of concurrent sends are made at their first use, so a
connection that is never written to holds neither.
"""

from __future__ import annotations

import abc
import socket
from typing import TYPE_CHECKING

from .._core.lifecycle import ConflictDetector
from .._data.interfaces import SocketOutputStream
from .._io.sending import TaskStarter
from .._io.stream_output import StreamOutputStream
from .._tls.output import TlsOutputStream
from .._tls.session import TlsSession

__all__ = ["StreamSending"]


class StreamSending(abc.ABC):
    """Base class: the output stream of a connected socket and the trio send methods.

    The subclass sets ``_output``, ``_send_conflict`` and ``_tls`` (None at first) in
    ``__init__``.
    """

    if not TYPE_CHECKING:
        __slots__ = ()  # as in NurseryScoped

    _output: StreamOutputStream | None
    _send_conflict: ConflictDetector | None
    #: The TLS session in force, if any.
    _tls: TlsSession | None

    @abc.abstractmethod
    def _describe(self) -> str:
        """A short name for messages, e.g. ``StreamSocket 127.0.0.1:80``."""

    @abc.abstractmethod
    def _live_socket(self) -> socket.socket | None:
        """The connected stdlib socket, None before ``connect``."""

    @abc.abstractmethod
    def _require_socket(self, what: str) -> socket.socket:
        """The stdlib socket; raise what *what* raises on a closed or unconnected socket."""

    @abc.abstractmethod
    def _get_nursery(self) -> TaskStarter | None:
        """Where a background writer starts while the socket is entered, else None."""

    @property
    def output_stream(self) -> SocketOutputStream:
        """The output stream; exists once the socket is connected.

        Raises:
            RuntimeError: the socket was never connected.
        """
        sock = self._live_socket()
        if sock is None:
            raise RuntimeError(f"{self._describe()} is not connected: await connect() first")
        output = self._output
        return output if output is not None else self._make_output(sock)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of *data*, after any writes already pending on ``output_stream``.

        Not bounded by ``output_stream.max_pending_bytes`` (the bound on writes nobody
        waits for): a send_all of any size waits until all of it is sent, and a
        cancelled one leaves nothing queued unless part of it has left.

        Raises:
            trio.BusyResourceError: another task is in ``send_all``.
            trio.ClosedResourceError: the socket, or its sending side, was closed,
                before the call or by another task during it (then it is a
                ``SocketStatusError`` with ``OPERATION_ABORTED`` too).
            SocketStatusError: the connection failed; it is also a
                :class:`trio.BrokenResourceError`.

        Cancellation: a call cancelled before any byte of *data* has left (on TLS,
        before any was handed to the encryption) sends nothing: its data is taken back
        out of the queue, also when the call began in a scope cancelled already. Once
        part of it has left, all of it is sent, never a torn part: when the socket was
        entered, the rest in the background; otherwise first by the next send, awaited
        write, ``flush()`` or ``aclose()``. That rest is pending (``pending_bytes``) and
        counts towards ``max_pending_bytes`` for later writes.
        On a TLS connection not entered, the cancelled task itself may be in the middle
        of a TLS record, which breaks the sending side.
        """
        with self._sending():
            output = self._require_output("send_all()")
            await output.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until pending writes are sent and the kernel buffer has room.

        Other tasks may write and flush meanwhile (through ``output_stream`` or a
        ``DataWriter``): their sends wait for room in turn with this wait.

        Raises:
            trio.BusyResourceError: another task is in ``send_all``,
                ``wait_send_all_might_not_block`` or ``send_eof``.
            trio.ClosedResourceError: the socket is closed, or another task closed it
                meanwhile.
        """
        with self._sending():
            output = self._require_output("wait_send_all_might_not_block()")
            await output.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """Send the pending writes, then close the sending side (TCP FIN).

        Idempotent. Afterwards writes raise :class:`trio.ClosedResourceError`; receiving
        goes on. No FIN follows a failure: the peer would take what it got for complete.

        Raises:
            trio.BusyResourceError: another task is sending.
            trio.ClosedResourceError: the socket is closed, or another task closed it
                while the pending writes were being sent.
            SocketStatusError: a pending write failed (``OPERATION_ABORTED`` after
                ``cancel_io()``, ``CONNECTION_RESET_BY_PEER``...), as ``flush()`` raises
                it, or the connection failed or is broken by an earlier failure (also
                a :class:`trio.BrokenResourceError`); no FIN was sent.
            RuntimeError: a TLS connection, which cannot close one direction.
        """
        with self._sending():
            output = self._require_output("send_eof()")
            if self._tls is not None:
                raise RuntimeError(
                    "send_eof() needs a plain TCP connection: a TLS connection "
                    "(trio.SSLStream) cannot close one direction; use aclose()"
                )
            await output.send_eof()

    def _sending(self) -> ConflictDetector:
        """What lets one task at a time send, made at the first send."""
        if self._send_conflict is None:
            self._send_conflict = ConflictDetector("another task is sending on this StreamSocket")
        return self._send_conflict

    def _require_output(self, what: str) -> StreamOutputStream:
        sock = self._require_socket(what)
        output = self._output
        return output if output is not None else self._make_output(sock)

    def _make_output(self, sock: socket.socket) -> StreamOutputStream:
        if self._tls is not None:
            output: StreamOutputStream = TlsOutputStream(
                self._tls.stream, sock, self._get_nursery, self._describe()
            )
        else:
            output = StreamOutputStream(sock, self._get_nursery, self._describe())
        self._output = output
        return output

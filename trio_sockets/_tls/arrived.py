"""What arrived on a TLS connection and nobody has read, taken without waiting: after a
send broke the stream (the peer's alert, and the plain text it sent before it went),
and when the socket closes (what TLS itself sent, so that the close makes no reset).

Both read trio's :class:`ssl.SSLObject` of the :class:`trio.SSLStream` and the
:class:`ssl.MemoryBIO` it reads from, which trio keeps in ``_ssl_object`` and
``_incoming``; without them (another trio) nothing is read.
"""

from __future__ import annotations

import ssl

import trio

from .transport import SocketTransport

__all__ = ["alert_left_by_peer", "application_data_arrived", "salvage_more"]

_Stream = trio.SSLStream[SocketTransport]


def _openssl_of(stream: _Stream) -> tuple[ssl.SSLObject, ssl.MemoryBIO] | None:
    ssl_object = getattr(stream, "_ssl_object", None)
    incoming = getattr(stream, "_incoming", None)
    if not isinstance(ssl_object, ssl.SSLObject) or not isinstance(incoming, ssl.MemoryBIO):
        return None  # pragma: no cover - trio keeps both
    return ssl_object, incoming


def _decrypt_arrived(stream: _Stream) -> tuple[bytes, ssl.SSLError | None]:
    """The plain text of what has arrived (at most about 1 MiB of it: the transport's
    ``received_now``), and the error that ended it: an alert, the peer's close_notify;
    None when OpenSSL wants more."""
    found = _openssl_of(stream)
    if found is None:
        return b"", None  # pragma: no cover
    ssl_object, incoming = found
    plain = bytearray()
    try:
        # After the peer's end of stream the BIO takes nothing more (an SSLError).
        received = stream.transport_stream.received_now()
        incoming.write(received)
        for _ in range(len(received) + 1):  # each read takes a record, or raises
            data = ssl_object.read(65536)
            if not data:
                break
            plain += data
    except ssl.SSLError as exc:  # SSLWantReadError too: all of it read
        return bytes(plain), exc
    except ValueError:  # pragma: no cover - an SSLObject that was shut down
        pass
    return bytes(plain), None


def alert_left_by_peer(stream: _Stream) -> ssl.SSLError | None:
    """The alert the peer sent before the connection broke, if it waits unread.

    A server that refuses our certificate after a TLS 1.3 handshake sends an alert and
    may then reset the connection: a send fails with the reset while the alert that
    says why still waits in the kernel's receive buffer. Call this once a send has
    broken the stream: it reads what has arrived, without waiting, and returns the
    ``SSLError`` of the alert it holds. The plain text before it is kept for the
    receives (``transport_stream.salvaged``, and :func:`salvage_more` for what the
    first look left in the kernel), as a plain socket's would still be read.

    Nothing is read while a receive is under way: that receive may hold bytes that
    come first, and it meets the alert itself.
    """
    transport = stream.transport_stream
    if transport.receiving:
        return None
    transport.salvaging = True
    plain, error = _decrypt_arrived(stream)
    transport.salvaged += plain
    if error is not None and "ALERT" in (error.reason or ""):
        return error
    return None


def salvage_more(stream: _Stream) -> bytes:
    """After :func:`alert_left_by_peer`: the plain text of what more arrived before the
    connection broke (b"" once there is none)."""
    if not stream.transport_stream.salvaging:
        return b""
    plain, _ = _decrypt_arrived(stream)
    if not plain:
        stream.transport_stream.salvaging = False
    return plain


def application_data_arrived(stream: _Stream) -> bool:
    """Read what has arrived, without waiting, and whether it held application data.

    For a closing socket: a TLS 1.3 peer sends messages no application reads (session
    tickets), and Linux resets a connection closed with bytes unread. Nothing is read
    while a receive is under way in another task: the close aborts it, and what it
    holds is its own."""
    if stream.transport_stream.receiving:
        return False
    plain, _ = _decrypt_arrived(stream)
    return plain != b""

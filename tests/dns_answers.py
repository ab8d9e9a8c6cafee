"""A DNS server for tests that answers each query with whatever the test says.

dnsmasq (the ``dns_server`` fixture) publishes what a well-behaved zone holds; the
answers no well-behaved server sends (CNAME loops, truncation even over TCP, malformed
messages, a silent AAAA query, a link-local or unspecified address, an IP literal as an
SRV target) come from :func:`hostile_dns`: a UDP and TCP server on 127.0.0.1 that
answers each query with ``respond(query, over_tcp)``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio

__all__ = ["Responder", "hostile_dns", "qname", "qtype", "reply", "rrset"]

#: Answers a query (and whether it came over TCP) with a message, or None: no answer.
Responder = Callable[[dns.message.Message, bool], bytes | None]


@contextlib.asynccontextmanager
async def hostile_dns(respond: Responder, *, tcp: bool = True) -> AsyncIterator[int]:
    """Serve DNS on 127.0.0.1 (UDP, and TCP on the same port unless *tcp* is False),
    answering each query with ``respond(query, over_tcp)`` (``None``: no answer). Yields
    the port."""
    for _ in range(20):
        udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await udp.bind(("127.0.0.1", 0))
        port: int = udp.getsockname()[1]
        listening = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            await listening.bind(("127.0.0.1", port))
        except OSError:  # taken on TCP: try another port
            udp.close()
            listening.close()
            continue
        break
    else:  # pragma: no cover
        pytest.fail("no port free for both UDP and TCP")
    with udp, listening:
        listening.listen(16)
        if not tcp:
            listening.close()  # the port refuses TCP

        async def serve_udp() -> None:
            while True:
                data, sender = await udp.recvfrom(65535)
                query = _parse(data)
                if query is not None and (answer := respond(query, False)) is not None:
                    await udp.sendto(answer, sender)

        async def serve_tcp() -> None:
            async with trio.open_nursery() as nursery:
                while True:
                    conn, _ = await listening.accept()
                    nursery.start_soon(serve_connection, conn)

        async def serve_connection(conn: trio.socket.SocketType) -> None:
            with conn:
                header = await _receive_exactly(conn, 2)
                query = _parse(await _receive_exactly(conn, struct.unpack("!H", header)[0]))
                if query is not None and (answer := respond(query, True)) is not None:
                    data = struct.pack("!H", len(answer)) + answer
                    while data:
                        data = data[await conn.send(data) :]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_udp)
            if tcp:
                nursery.start_soon(serve_tcp)
            yield port
            nursery.cancel_scope.cancel()


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data)
    except Exception:
        return None


async def _receive_exactly(conn: trio.socket.SocketType, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = await conn.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def reply(
    query: dns.message.Message,
    *rrsets: dns.rrset.RRset,
    rcode: int = dns.rcode.NOERROR,
    tc: bool = False,
    shuffle: bool = True,
) -> bytes:
    """The answer to *query* with *rrsets*; *shuffle* False keeps each set's order."""
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.Rcode(rcode))
    response.answer.extend(rrsets)
    if tc:
        response.flags |= dns.flags.TC
    return response.to_wire(max_size=65535, want_shuffle=shuffle)


def rrset(owner: dns.name.Name | str, rdtype: str, *texts: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, 60, "IN", rdtype, *texts)


def qname(query: dns.message.Message) -> dns.name.Name:
    name: dns.name.Name = query.question[0].name
    return name


def qtype(query: dns.message.Message) -> str:
    return dns.rdatatype.to_text(query.question[0].rdtype)

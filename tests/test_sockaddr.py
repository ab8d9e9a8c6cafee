"""The one IPv4-mapped rule (``_core.sockaddr``), and its users, without sockets."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_sockets import HostName
from trio_sockets._core.sockaddr import ipv4_mapped, ipv4_of_mapped, unmapped
from trio_sockets._io.addresses import host_of
from trio_sockets._io.connect import format_sockaddr
from trio_sockets._io.datagram_addresses import max_payload
from trio_sockets._io.datagram_read import sender_key

ipv4s = st.ip_addresses(v=4)
#: IPv6 addresses outside ::ffff:0:0/96.
ipv6s = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None)


@given(ipv4s)
def test_a_mapped_address_reads_as_its_ipv4_address_in_every_spelling(
    ipv4: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(ipv4_mapped(str(ipv4)))
    assert mapped.ipv4_mapped == ipv4
    spellings = [
        ipv4_mapped(str(ipv4)),
        mapped.exploded,
        mapped.exploded.upper(),
        f"::ffff:{int(ipv4) >> 16:x}:{int(ipv4) & 0xFFFF:x}",
        f"{ipv4_mapped(str(ipv4))}%3",
    ]
    for text in spellings:
        assert ipv4_of_mapped(text) == str(ipv4), text
        assert unmapped(text) == str(ipv4), text


@given(ipv6s)
def test_other_ipv6_addresses_stay_as_they_are(ipv6: ipaddress.IPv6Address) -> None:
    for text in (str(ipv6), f"{ipv6}%eth0"):
        assert ipv4_of_mapped(text) is None
        assert unmapped(text) == text


@given(ipv4s)
def test_ipv4_addresses_stay_as_they_are(ipv4: ipaddress.IPv4Address) -> None:
    assert ipv4_of_mapped(str(ipv4)) is None
    assert unmapped(str(ipv4)) == str(ipv4)


@pytest.mark.parametrize("text", ["", "localhost", "example.com", "::ffff:zz", "::ffff:1.2.3"])
def test_text_that_is_no_address_is_not_mapped(text: str) -> None:
    assert ipv4_of_mapped(text) is None
    assert unmapped(text) == text


@given(ipv4s, st.integers(1, 65535))
def test_a_peer_is_one_peer_whether_it_arrives_mapped_or_not(
    ipv4: ipaddress.IPv4Address, port: int
) -> None:
    """A connected dual-stack socket, the information objects and the datagram size
    limit all name an IPv4 peer by its IPv4 address."""
    plain = (str(ipv4), port)
    mapped = (ipv4_mapped(str(ipv4)), port, 0, 0)
    assert sender_key(mapped) == sender_key(plain) == (*plain, 0)
    assert host_of(mapped) == host_of(plain) == HostName(str(ipv4))
    assert max_payload(mapped, socket.AF_INET6) == max_payload(plain, socket.AF_INET) == 65507


@given(ipv6s, st.integers(1, 65535))
def test_an_ipv6_peer_keeps_its_address(ipv6: ipaddress.IPv6Address, port: int) -> None:
    sockaddr = (str(ipv6), port, 0, 0)
    assert sender_key(sockaddr) == (str(ipv6), port, 0)
    assert max_payload(sockaddr, socket.AF_INET6) == 65527


@pytest.mark.parametrize(
    ("sockaddr", "text"),
    [
        (("127.0.0.1", 9), "127.0.0.1:9"),
        (("::ffff:127.0.0.1", 9), "127.0.0.1:9"),
        (("::1", 9, 0, 0), "[::1]:9"),
        (("fe80::1%2", 9, 0, 2), "[fe80::1%2]:9"),
        (("fe80::1", 9, 0, 2), "[fe80::1%2]:9"),
    ],
)
def test_format_sockaddr_shows_a_mapped_address_as_ipv4(
    sockaddr: tuple[str, int] | tuple[str, int, int, int], text: str
) -> None:
    assert format_sockaddr(sockaddr) == text


def test_a_link_local_address_is_reported_with_its_scope() -> None:
    """Python gives the scope apart from the address (``sockaddr[3]``); what the library
    reports keeps it, so that it can be given back to reach that peer."""
    assert host_of(("fe80::1", 9, 0, 2)) == HostName("fe80::1%2")
    assert host_of(("2001:db8::1", 9, 0, 0)) == HostName("2001:db8::1")


def test_the_same_link_local_address_on_another_link_is_another_sender() -> None:
    assert sender_key(("fe80::1", 9, 0, 2)) != sender_key(("fe80::1", 9, 0, 3))

"""Linux socket option numbers that Python's :mod:`socket` module lacks (3.11).

The values are Linux's ABI (``include/uapi/linux/in.h``, ``in6.h``, ``udp.h``,
``asm-generic/socket.h``): they never change, so they are written here once rather than
at each place that sets the option.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
from typing import Final

__all__ = [
    "IPV6_MTU_DISCOVER",
    "IPV6_MULTICAST_ALL",
    "IP_MTU_DISCOVER",
    "IP_MULTICAST_ALL",
    "IP_PKTINFO",
    "IP_PMTUDISC_DO",
    "IP_PMTUDISC_DONT",
    "SIOCOUTQNSD",
    "SOL_UDP",
    "SO_RXQ_OVFL",
    "UDP_SEGMENT",
    "index_of_interface_holding",
]

#: ``IPPROTO_IP``: deliver each datagram's destination address (``struct in_pktinfo``).
IP_PKTINFO: Final = 8
#: ``IPPROTO_IP``: path MTU discovery mode; with :data:`IP_PMTUDISC_DO`, don't fragment.
IP_MTU_DISCOVER: Final = 10
#: ``IPPROTO_IPV6``: as :data:`IP_MTU_DISCOVER`, for IPv6.
IPV6_MTU_DISCOVER: Final = 23
#: The ``IP_MTU_DISCOVER`` value that sets the don't-fragment bit.
IP_PMTUDISC_DO: Final = 2
#: The ``IP_MTU_DISCOVER`` value that never sets it (Linux's default, ``IP_PMTUDISC_WANT``,
#: sets it on every IPv4 datagram that fits the local MTU).
IP_PMTUDISC_DONT: Final = 0
#: ``IPPROTO_IP``: 1 (Linux's default) delivers every group any socket on the port joined.
IP_MULTICAST_ALL: Final = 49
#: ``IPPROTO_IPV6``: as :data:`IP_MULTICAST_ALL`, for IPv6 (Linux >= 4.20).
IPV6_MULTICAST_ALL: Final = 29
#: ``SOL_SOCKET``: each datagram carries the count the kernel dropped (a u32).
SO_RXQ_OVFL: Final = 40
#: The UDP protocol level (``IPPROTO_UDP``), spelled as the kernel's ``SOL_UDP``.
SOL_UDP: Final = 17
#: ``SOL_UDP``: the segment size of a UDP generic segmentation offload send.
UDP_SEGMENT: Final = 103


#: ``ioctl``: a descriptor of the network namespace of a socket (Linux 4.9+).
SIOCGSKNS: Final = 0x894C
#: ``ioctl``: the bytes a TCP socket has queued that it has not sent yet (``SIOCOUTQ``
#: counts those the peer has not acknowledged).
SIOCOUTQNSD: Final = 0x894B


def _in_this_threads_namespace(sock: socket.socket) -> bool:
    """Whether *sock* is in the calling thread's network namespace; True when the kernel
    does not say (without ``CAP_NET_ADMIN`` a process cannot have switched namespace)."""
    try:
        namespace = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    except OSError:
        return True
    try:
        return os.fstat(namespace).st_ino == os.stat("/proc/thread-self/ns/net").st_ino
    except OSError:
        return False
    finally:
        os.close(namespace)


def index_of_interface_holding(address: str, sock: socket.socket) -> int:
    """The index of the one network interface that holds the IPv6 *address*, in the
    network namespace of *sock* (``/proc/thread-self/net/if_inet6``, when that is the
    calling thread's); 0 when none does, when several do (a link-local address may be
    on several links), when *sock* is in another namespace, or where the table cannot
    be read."""
    if not _in_this_threads_namespace(sock):
        return 0
    try:
        wanted = ipaddress.IPv6Address(address.partition("%")[0]).packed.hex()
        with open("/proc/thread-self/net/if_inet6", encoding="ascii") as table:
            found = [int(line.split()[1], 16) for line in table if line.startswith(wanted)]
    except (OSError, ValueError, IndexError):
        return 0
    return found[0] if len(found) == 1 else 0

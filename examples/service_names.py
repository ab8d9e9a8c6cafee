"""Connecting by service name: DNS SRV records choose the host and port, in order.

The example is self-contained. It starts two echo listeners on 127.0.0.1 and 127.0.0.2,
finds a port where nothing listens, and starts a private DNS server (dnsmasq, Debian
package ``dnsmasq-base``) on 127.0.0.1 that publishes, for ``_echo-demo._tcp.example.test``:

* priority 10: ``down.example.test`` at the port where nothing listens;
* priority 20: ``one.example.test`` (127.0.0.2) and ``two.example.test`` (127.0.0.1),
  with weights 3 and 1.

A StreamSocket whose Resolver asks that server connects to ``example.test`` with the
service name ``"echo-demo"``: the first target refuses, so the connect falls through to
one of the priority-20 targets, chosen by weight. The host's own DNS configuration is
neither read nor changed.

    python examples/service_names.py
"""

from __future__ import annotations

import socket

import trio

from trio_sockets import HostName, Resolver, StreamSocket, StreamSocketListener
from trio_sockets.testing import DnsServer, SrvRecord

SERVICE = "echo-demo"
SRV_NAME = f"_{SERVICE}._tcp.example.test"


def unused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def echo_server(
    address: str, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Listen on *address*, report the port, echo every connection until cancelled."""
    async with StreamSocketListener() as listener, trio.open_nursery() as nursery:
        await listener.bind_endpoint(HostName(address), "0")
        task_status.started(int(listener.information.local_port))
        async for args in listener.connection_received:
            nursery.start_soon(echo, args.socket, address)


async def echo(sock: StreamSocket, address: str) -> None:
    async with sock:
        data = await sock.receive_some()
        await sock.send_all(f"{address} echoes: ".encode() + data)


async def main() -> None:
    async with trio.open_nursery() as nursery:
        port_one = await nursery.start(echo_server, "127.0.0.2")
        port_two = await nursery.start(echo_server, "127.0.0.1")
        records = [
            SrvRecord(SRV_NAME, "down.example.test", unused_port(), priority=10),
            SrvRecord(SRV_NAME, "one.example.test", port_one, priority=20, weight=3),
            SrvRecord(SRV_NAME, "two.example.test", port_two, priority=20, weight=1),
        ]
        hosts = {
            "down.example.test": "127.0.0.1",
            "one.example.test": "127.0.0.2",
            "two.example.test": "127.0.0.1",
        }
        async with DnsServer(srv=records, hosts=hosts, domain="example.test") as dns:
            resolver: Resolver = dns.resolver()
            print(f"DNS server on {dns.host}:{dns.port}; the SRV targets, in the order to try:")
            for target in await resolver.resolve_targets(HostName("example.test"), SERVICE, "tcp"):
                print(f"  priority {target.priority:2}, weight {target.weight}: {target}")
            for attempt in range(3):
                async with StreamSocket(resolver=resolver) as client:
                    await client.connect(HostName("example.test"), SERVICE)
                    info = client.information
                    print(
                        f"connect {attempt + 1}: {info.remote_host_name}:"
                        f"{info.remote_service_name} -> {info.remote_address}:{info.remote_port}"
                    )
                    await client.send_all(b"hello")
                    print("  ", (await client.receive_some()).decode())
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    command_line.parser(__doc__).parse_args()  # no options but --help
    command_line.run(main)

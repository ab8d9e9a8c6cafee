"""The ``trio-sockets resolve`` command: how a host and service name resolve, step by
step (the services database, DNS SRV, each target's addresses), as a connect resolves
them."""

from __future__ import annotations

import argparse

from .._core.errors import SocketError
from .._core.hostname import HostName
from .._core.service_name import parse_service_name
from .._io.addresses import target_addresses
from .._io.resolver import Protocol, Resolver, ServiceTarget, all_targets_failed
from .._io.srv import is_localhost, srv_name
from .lines import say, warn

__all__ = ["resolve_command"]


def _srv_step(host: HostName, service: str, protocol: Protocol) -> str:
    """What ``resolve_targets`` does next for a service name the services database does
    not know: the SRV name it asks for, or why it asks none."""
    if host.ip_address is not None:
        return "no DNS SRV lookup: an IP address has no SRV records"
    if is_localhost(host):
        return "no DNS SRV lookup: localhost names have no SRV records"
    return f"DNS SRV {srv_name(service, protocol, host)}"


async def resolve_command(args: argparse.Namespace) -> None:
    protocol: Protocol = "udp" if args.udp else "tcp"
    host = HostName(args.host)
    if args.nameserver is None:
        if args.port is not None:
            raise ValueError("--port needs --nameserver (the system resolver has its own)")
        resolver = Resolver()
    else:
        resolver = Resolver(args.nameserver, 53 if args.port is None else args.port)
    say(f"resolving {host.display_name} {args.service!r} for {protocol.upper()} with {resolver}")
    parsed = parse_service_name(args.service, "service", local=False)
    if isinstance(parsed, int):
        say(f"service: port {parsed}")
    else:
        try:
            port = await resolver.resolve_port(args.service, protocol, local=False)
        except OSError:
            step = _srv_step(host, parsed, protocol)
            say(f"service: {parsed!r} is not in the services database; {step}")
        else:
            say(f"service: {parsed!r} is port {port} in the services database")
    targets = await resolver.resolve_targets(host, args.service, protocol)
    # Looked up together, as a connect does: 16 silent targets take one lifetime.
    found = await target_addresses(resolver, targets, protocol)
    failures: list[tuple[ServiceTarget, OSError]] = []
    for index, (target, addresses) in enumerate(zip(targets, found, strict=True), 1):
        detail = (
            f" (priority {target.priority}, weight {target.weight})"
            if len(targets) > 1 or target.priority or target.weight
            else ""
        )
        say(f"target {index}: {target}{detail}")
        if isinstance(addresses, OSError):
            if len(targets) == 1:
                raise addresses
            # A connect would go on to the next target: report this one and go on too.
            status = SocketError.get_status(addresses).name
            warn(f"trio-sockets: {status}: target {index} {target}: {addresses}")
            failures.append((target, addresses))
            continue
        for _family, sockaddr in addresses:
            say(f"  address {sockaddr[0]} port {sockaddr[1]}")
    if len(failures) == len(targets):
        raise all_targets_failed(f"resolve {host.display_name}:{args.service}", failures)

"""Multicast and broadcast on real sockets.

Nothing here sends to a group or joins one in the host's own network namespace. IPv4
multicast runs on the loopback of a namespace the test creates, with ``IP_MULTICAST_IF``
127.0.0.1 and TTL 0 as well. IPv6 multicast does not work over ``lo``, and broadcast to
255.255.255.255 must never leave the host: both run in a namespace with a veth pair
that the test creates and deletes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from netns import inside, ip, network_namespace

from trio_sockets import (
    DatagramSocket,
    DatagramSocketMessageReceivedEventArgs,
    HostName,
    SocketErrorStatus,
    SocketStatusError,
)

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
_groups = itertools.count()


async def receive(sock: DatagramSocket) -> DatagramSocketMessageReceivedEventArgs:
    with trio.fail_after(5):
        return await sock.message_received.receive()


async def assert_nothing_arrives(sock: DatagramSocket, wait: float = 0.2) -> None:
    with trio.move_on_after(wait):
        args = await sock.message_received.receive()
        pytest.fail(f"unexpected datagram {args!r}: {args.data!r}")


def multicast_listener(interface: str) -> DatagramSocket:
    """A socket (to be entered) that may share its port with other multicast sockets."""
    sock = DatagramSocket()
    sock.control.multicast_only = True
    sock.control.multicast_interface = interface
    return sock


def safe_sender(sock: DatagramSocket) -> DatagramSocket:
    """Multicast from the host only ever leaves by loopback, with TTL 0."""
    sock.control.multicast_interface = LOOPBACK
    sock.control.multicast_hop_limit = 0
    return sock


@contextlib.contextmanager
def private_loopback() -> Iterator[None]:
    """Create sockets in a fresh network namespace with only ``lo`` until the block ends."""
    with network_namespace("tsmc") as name, inside(name):
        yield


def group() -> str:
    """An administratively scoped IPv4 group no other test run uses at the same time."""
    return f"239.255.{os.getpid() % 250}.{next(_groups) % 250 + 1}"


# -- IPv4 on the host's loopback ---------------------------------------------------------


async def test_ipv4_multicast_on_loopback_shared_port_and_join_rules() -> None:
    target = group()
    with private_loopback(), trio.fail_after(10):
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(multicast_listener(LOOPBACK))
            await first.bind_service_name("0")
            port = first.information.local_port
            second = await stack.enter_async_context(multicast_listener(LOOPBACK))
            await second.bind_service_name(port)  # the port is shared
            bystander = await stack.enter_async_context(multicast_listener(LOOPBACK))
            await bystander.bind_service_name(port)
            first.join_multicast_group(target)
            second.join_multicast_group(HostName(target))
            # The bystander shares the port but joined nothing: it hears nothing.
            sender = await stack.enter_async_context(safe_sender(DatagramSocket()))
            stream = await sender.get_output_stream(HostName(target), port)
            raw = sender.socket
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == (
                socket.inet_aton(LOOPBACK)
            )
            assert raw.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
            await stream.write(b"to the group")
            for listener in (first, second):
                args = await receive(listener)
                assert args.data == b"to the group"
                assert args.local_address == HostName(target)
                assert args.remote_address == HostName(LOOPBACK)
                assert args.remote_port == sender.information.local_port
            await assert_nothing_arrives(bystander)
            # Leaving stops delivery to that socket only.
            second.leave_multicast_group(target)
            await stream.write(b"after leave")
            assert (await receive(first)).data == b"after leave"
            await assert_nothing_arrives(second)
            await assert_nothing_arrives(bystander, 0.05)


async def test_a_socket_hears_only_the_groups_it_joined() -> None:
    group_a, group_b = group(), group()
    with private_loopback(), trio.fail_after(10):
        async with contextlib.AsyncExitStack() as stack:
            on_a = await stack.enter_async_context(multicast_listener(LOOPBACK))
            await on_a.bind_service_name("0")
            port = on_a.information.local_port
            on_b = await stack.enter_async_context(multicast_listener(LOOPBACK))
            await on_b.bind_service_name(port)
            on_a.join_multicast_group(group_a)
            on_b.join_multicast_group(group_b)
            sender = await stack.enter_async_context(safe_sender(DatagramSocket()))
            await (await sender.get_output_stream(group_a, port)).write(b"for a")
            await (await sender.get_output_stream(group_b, port)).write(b"for b")
            assert (await receive(on_a)).data == b"for a"
            assert (await receive(on_b)).data == b"for b"
            await assert_nothing_arrives(on_a)
            await assert_nothing_arrives(on_b, 0.05)


async def test_multicast_interface_defaults_to_the_bound_ipv4_address() -> None:
    with private_loopback():
        async with DatagramSocket() as sock:
            sock.control.multicast_hop_limit = 0
            await sock.bind_endpoint(LOOPBACK, "0")
            assert sock.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == (
                socket.inet_aton(LOOPBACK)
            )
            sock.control.multicast_interface = "lo"  # an interface name works as well
            assert sock.control.multicast_interface == "lo"


def not_local_ipv4() -> str:
    """An IPv4 address no interface of this host has (a bind to it fails; nothing is sent)."""
    for candidate in ("10.255.255.254", "172.31.255.254", "192.168.255.254"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((candidate, 0))
            except OSError:
                return candidate
    pytest.skip("every candidate address is local here")  # pragma: no cover


async def test_an_interface_the_kernel_refuses_leaves_the_setting_as_it_was() -> None:
    async with DatagramSocket() as sock:
        sock.control.multicast_hop_limit = 0
        await sock.bind_endpoint(LOOPBACK, "0")
        sock.control.multicast_interface = LOOPBACK
        with pytest.raises(SocketStatusError) as caught:
            sock.control.multicast_interface = not_local_ipv4()
        assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
        assert sock.control.multicast_interface == LOOPBACK
        assert sock.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == (
            socket.inet_aton(LOOPBACK)
        )
        # An index no interface has is refused before the kernel is asked.
        with pytest.raises(ValueError, match="no network interface named or numbered '4294967295'"):
            sock.control.multicast_interface = "4294967295"
        assert sock.control.multicast_interface == LOOPBACK


async def test_membership_errors_are_classified() -> None:
    with private_loopback():
        async with DatagramSocket() as v4, DatagramSocket() as dual:
            v4.control.multicast_interface = LOOPBACK
            await v4.bind_endpoint("0.0.0.0", "0")
            target = group()
            v4.join_multicast_group(target)
            with pytest.raises(SocketStatusError) as caught:
                v4.join_multicast_group(target)
            assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE
            v4.leave_multicast_group(target)
            with pytest.raises(SocketStatusError) as caught:
                v4.leave_multicast_group(target)
            assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
            with pytest.raises(SocketStatusError) as caught:
                v4.join_multicast_group("ff02::1")
            assert caught.value.status == SocketErrorStatus.ADDRESS_FAMILY_NOT_SUPPORTED
            await dual.bind_service_name("0")
            for bad in ("10.0.0.1", "::1", "example.com"):
                with pytest.raises(ValueError, match=bad):
                    dual.join_multicast_group(bad)
            with pytest.raises(TypeError, match="host"):
                dual.join_multicast_group(None)  # type: ignore[arg-type]
            # No interface named and no route to the group (the namespace has only
            # lo's local routes): the kernel has no device for it (ENODEV).
            for unroutable in (group(), "ff15::4242"):
                with pytest.raises(SocketStatusError, match="No such device") as caught:
                    dual.join_multicast_group(unroutable)
                assert caught.value.status == SocketErrorStatus.CANNOT_ASSIGN_REQUESTED_ADDRESS
            # A group's scope names an interface: a 32-bit index that exists.
            with pytest.raises(ValueError, match="is over 4294967295"):
                dual.join_multicast_group("ff02::1%4294967296")
            with pytest.raises(
                ValueError, match=r"join_multicast_group 'ff02::1%4294967295'.*numbered"
            ):
                dual.join_multicast_group("ff02::1%4294967295")


async def test_a_join_on_a_socket_bound_to_a_unicast_address_is_refused_saying_what_works() -> None:
    """Linux delivers a group's datagrams only to sockets bound to every address or to
    the group: such a join succeeded and the socket then heard nothing, silently. The
    refusal names the address and what works instead, which the end checks."""
    target = group()
    with private_loopback(), trio.fail_after(10):
        async with (
            DatagramSocket() as on_adapter,
            DatagramSocket() as on_address,
            DatagramSocket() as on_ipv6,
        ):
            await on_adapter.bind_service_name("0", adapter=LOOPBACK)
            await on_address.bind_endpoint(LOOPBACK, "0")
            await on_ipv6.bind_endpoint("::1", "0")
            for sock, bound, joined in (
                (on_adapter, LOOPBACK, target),
                (on_address, LOOPBACK, f"::ffff:{target}"),
                (on_ipv6, "::1", "ff02::4242%lo"),
            ):
                with pytest.raises(RuntimeError) as caught:
                    sock.join_multicast_group(joined)
                message = str(caught.value)
                assert f"join_multicast_group {joined!r}" in message
                assert f"is bound to {bound}," in message
                assert "control.multicast_interface" in message
                assert "bind_service_name(port)" in message
        async with DatagramSocket() as receiver, safe_sender(DatagramSocket()) as sender:
            receiver.control.multicast_interface = LOOPBACK
            await receiver.bind_service_name("0")
            receiver.join_multicast_group(target)
            stream = await sender.get_output_stream(target, receiver.information.local_port)
            await stream.write(b"heard")
            assert (await receive(receiver)).data == b"heard"


async def test_membership_calls_on_a_closed_socket_say_it_is_closed() -> None:
    async with DatagramSocket() as sock:
        await sock.bind_endpoint(LOOPBACK, "0")
    for call in (sock.join_multicast_group, sock.leave_multicast_group):
        with pytest.raises(trio.ClosedResourceError, match="closed"):
            call(group())


async def test_only_multicast_only_sockets_share_a_port() -> None:
    async with DatagramSocket() as plain, DatagramSocket() as sharer, DatagramSocket() as other:
        sharer.control.multicast_only = True
        await sharer.bind_service_name("0")
        port = sharer.information.local_port
        assert sharer.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        with pytest.raises(SocketStatusError) as caught:
            await plain.bind_service_name(port)
        assert caught.value.status == SocketErrorStatus.ADDRESS_ALREADY_IN_USE
        await other.bind_service_name("0")
        assert other.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0


def test_multicast_chat_example_two_processes_share_a_port() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        probe.bind(("::", 0))
        port = str(probe.getsockname()[1])
    script = str(ROOT / "examples" / "multicast_chat.py")
    common = ["--port", port, "--group", group(), "--duration", "2", "--interval", "0.1"]
    with network_namespace("tsmc") as namespace:
        outputs = _chat(["ip", "netns", "exec", namespace, sys.executable, script], common)
    alice, bob = outputs
    assert "alice heard 'bob: hello from bob'" in alice
    assert "bob heard 'alice: hello from alice'" in bob
    assert "via 127.0.0.1" in alice


def _chat(command: list[str], common: list[str]) -> list[str]:
    """Run alice and bob side by side; their outputs."""
    chatters = [
        subprocess.Popen(
            [*command, "--name", name, "--say", f"hello from {name}", *common],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    ]
    outputs = []
    try:
        for chatter in chatters:
            out, err = chatter.communicate(timeout=30)
            assert chatter.returncode == 0, err
            outputs.append(out)
    finally:
        for chatter in chatters:
            chatter.kill()
            chatter.wait()
    return outputs


# -- a network namespace with a veth pair --------------------------------------------------


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace: lo up, veth pair v0 (203.0.113.1/24) - v1
    (203.0.113.2/24), IPv6 link-local only, DAD off. Deleted afterwards."""
    with network_namespace("tsdg") as name:
        subprocess.run(
            [
                "ip", "netns", "exec", name, "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
            ],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", name, "addr", "add", "203.0.113.1/24", "dev", "v0")
        ip("-n", name, "addr", "add", "203.0.113.2/24", "dev", "v1")
        ip("-n", name, "link", "set", "v0", "up")
        ip("-n", name, "link", "set", "v1", "up")
        yield name


async def _wait_until_v0_has_link_local(name: str) -> None:
    for _ in range(200):
        result = await trio.run_process(
            ["ip", "-n", name, "-6", "addr", "show", "dev", "v0", "scope", "link"],
            capture_stdout=True,
        )
        if b"inet6" in result.stdout and b"tentative" not in result.stdout:
            return
        await trio.sleep(0.01)
    pytest.fail("v0 got no usable link-local address")


async def test_ipv6_multicast_in_a_namespace(netns: str) -> None:
    await _wait_until_v0_has_link_local(netns)
    with trio.fail_after(10), inside(netns):
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(multicast_listener("v0"))
            await first.bind_service_name("0")
            port = first.information.local_port
            second = await stack.enter_async_context(multicast_listener("v0"))
            await second.bind_service_name(port)
            bystander = await stack.enter_async_context(multicast_listener("v0"))
            await bystander.bind_service_name(port)
            first.join_multicast_group("ff02::4242")
            second.join_multicast_group("ff02::4242%v0")  # a scope names the interface too
            sender = DatagramSocket()
            sender.control.multicast_interface = "v0"
            await stack.enter_async_context(sender)
            stream = await sender.get_output_stream(HostName("ff02::4242%v0"), port)
            await stream.write(b"six")
            # A link-local group is reported with the interface it came by, as a
            # link-local address is: an answer sent to it leaves by that link.
            v0 = socket.if_nametoindex("v0")
            for listener in (first, second):
                args = await receive(listener)
                assert args.data == b"six"
                assert args.local_address == HostName(f"ff02::4242%{v0}")
                assert args.remote_address is not None
                assert args.remote_address.canonical_name.startswith("fe80::")
            await assert_nothing_arrives(bystander)
            second.leave_multicast_group("ff02::4242%v0")
            await stream.write(b"after leave")
            assert (await receive(first)).data == b"after leave"
            await assert_nothing_arrives(second)


async def test_broadcast_in_a_namespace(netns: str) -> None:
    with trio.fail_after(10), inside(netns):
        async with DatagramSocket() as receiver, DatagramSocket() as sender:
            await receiver.bind_endpoint("0.0.0.0", "0")
            port = receiver.information.local_port
            await sender.bind_endpoint("203.0.113.1", "0")
            for address in ("203.0.113.255", "255.255.255.255"):
                stream = await sender.get_output_stream(HostName(address), port)
                await stream.write(address.encode())
                args = await receive(receiver)
                assert args.data == address.encode()
                assert args.local_address == HostName(address)
                assert args.remote_address == HostName("203.0.113.1")
                # The datagram may also come back in through v1: skip any copy.
                with trio.move_on_after(0.1):
                    while (await receiver.message_received.receive()).data == args.data:
                        pass
            async with DatagramSocket() as connected:
                await connected.bind_endpoint("203.0.113.1", "0")
                await connected.connect(HostName("255.255.255.255"), port)
                await connected.output_stream.write(b"connected broadcast")
                assert (await receive(receiver)).data == b"connected broadcast"


async def test_a_multicast_only_socket_receives_only_what_was_sent_to_its_groups() -> None:
    """Unicast datagrams to a multicast-only socket's port are not delivered (WinRT refuses
    unicast use of such a socket), nor counted as received; the group's datagrams are."""
    target = group()
    with private_loopback(), trio.fail_after(10):
        async with multicast_listener(LOOPBACK) as listener, DatagramSocket() as sender:
            await listener.bind_service_name("0")
            port = listener.information.local_port
            listener.join_multicast_group(target)
            safe_sender(sender)
            unicast = await sender.get_output_stream(HostName(LOOPBACK), port)
            await unicast.write(b"unicast")
            to_group = await sender.get_output_stream(HostName(target), port)
            await to_group.write(b"to the group")
            args = await receive(listener)
            assert args.data == b"to the group"
            assert args.local_address == HostName(target)
            await assert_nothing_arrives(listener)
            assert listener.information.received_message_count == 1


async def test_a_socket_bound_to_its_group_or_a_broadcast_address_receives_there() -> None:
    """Binding to the group's own address (the usual Linux way to hear one group only)
    or to a broadcast address works: the bound address is no interface's, so the
    multicast interface is left to the system instead of failing the bind. A group
    written IPv4-mapped is joined as the IPv4 group it is."""
    target = group()
    with private_loopback(), trio.fail_after(10):
        async with (
            multicast_listener(LOOPBACK) as on_group,
            DatagramSocket() as on_broadcast,
            multicast_listener(LOOPBACK) as mapped,
            DatagramSocket() as sender,
        ):
            await on_group.bind_endpoint(target, "0")
            port = on_group.information.local_port
            on_group.join_multicast_group(target)
            await on_broadcast.bind_endpoint("127.255.255.255", "0")
            await mapped.bind_service_name(port)  # dual-stack, every address
            mapped.join_multicast_group(f"::ffff:{target}")
            safe_sender(sender)
            await (await sender.get_output_stream(HostName(target), port)).write(b"group")
            assert (await receive(on_group)).data == b"group"
            assert (await receive(mapped)).data == b"group"
            broadcast_port = on_broadcast.information.local_port
            stream = await sender.get_output_stream(HostName("127.255.255.255"), broadcast_port)
            await stream.write(b"broadcast")
            assert (await receive(on_broadcast)).data == b"broadcast"

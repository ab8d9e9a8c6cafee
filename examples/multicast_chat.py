"""A multicast chat: every instance joins one group and hears every other instance.

Run it in two terminals; both bind the same UDP port, which only works because
``control.multicast_only`` is set (WinRT's MulticastOnly, ``SO_REUSEADDR`` underneath):

    python examples/multicast_chat.py --name alice --say "hello from alice"
    python examples/multicast_chat.py --name bob --say "hi alice"

Each instance says its line every ``--interval`` seconds, prints what it hears, and
stops after ``--duration`` seconds. By default the chat stays on this machine: the group
is joined and sent to on the loopback interface (127.0.0.1) with a hop limit (TTL) of
0, so no datagram leaves the host. Pass ``--interface`` and ``--hops`` to chat across a
network.
"""

from __future__ import annotations

import argparse
import functools
import math

import trio

from trio_sockets import DatagramSocket, HostName

DEFAULT_GROUP = "239.255.42.99"
DEFAULT_PORT = "50042"


async def chat(
    name: str,
    line: str,
    *,
    group: str = DEFAULT_GROUP,
    port: str = DEFAULT_PORT,
    interface: str = "127.0.0.1",
    hops: int = 0,
    duration: float = 3.0,
    interval: float = 0.25,
) -> list[str]:
    """Join *group* on *port*, say *line* every *interval* s for *duration* s; return
    what was heard, as ``"name: text"`` lines, each once."""
    heard: list[str] = []
    async with DatagramSocket() as sock:
        sock.control.multicast_only = True  # share the port with the other chatters
        sock.control.multicast_interface = interface
        sock.control.multicast_hop_limit = hops
        await sock.bind_service_name(port)
        sock.join_multicast_group(HostName(group))
        stream = await sock.get_output_stream(HostName(group), sock.information.local_port)
        print(f"{name} joined {group} on port {sock.information.local_port} via {interface}")

        async def speak() -> None:
            while True:
                await stream.write(f"{name}: {line}".encode())
                await trio.sleep(interval)

        async def listen() -> None:
            async for args in sock.message_received:
                reader = args.get_data_reader()
                text = reader.read_string(reader.unconsumed_buffer_length)
                if text not in heard:
                    heard.append(text)
                    print(f"{name} heard {text!r} from {args.remote_address}:{args.remote_port}")

        with trio.move_on_after(duration):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(speak)
                nursery.start_soon(listen)
    print(f"{name} left the chat")
    return heard


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds, 0 or more, not {text!r}")
    return value


def hop_limit(text: str) -> int:
    """An argparse type: a multicast TTL, 0 to 255."""
    if not (text.isascii() and text.isdigit()) or int(text) > 255:
        raise argparse.ArgumentTypeError(f"expected a hop limit from 0 to 255, not {text!r}")
    return int(text)


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--name", default="anonymous", help="who is speaking")
    parser.add_argument("--say", default="hello", help="the line to say")
    parser.add_argument("--group", default=DEFAULT_GROUP, help="IPv4 multicast group")
    parser.add_argument("--port", default=DEFAULT_PORT, help="UDP port every chatter binds")
    parser.add_argument(
        "--interface", default="127.0.0.1", help="interface address (default loopback)"
    )
    parser.add_argument(
        "--hops", type=hop_limit, default=0, help="multicast TTL (default 0: this host only)"
    )
    parser.add_argument(
        "--duration", type=seconds, default=3.0, help="seconds before leaving (default 3)"
    )
    parser.add_argument(
        "--interval", type=seconds, default=0.25, help="seconds between lines (default 0.25)"
    )
    arguments = parser.parse_args()
    command_line.run(
        functools.partial(
            chat,
            arguments.name,
            arguments.say,
            group=arguments.group,
            port=arguments.port,
            interface=arguments.interface,
            hops=arguments.hops,
            duration=arguments.duration,
            interval=arguments.interval,
        )
    )

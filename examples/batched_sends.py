"""The WinRT "Batched sends" sample, ported to trio_sockets.

The client sends five "Hello, World!" packets three ways, each over its own connection:

1. one write at a time, awaiting each (a system call per packet);
2. starting every write, keeping the operations and awaiting them all afterwards
   (the C# Task.WaitAll variant);
3. starting every write and awaiting one ``flush()`` (the FlushAsync variant).

The server reads each connection with PARTIAL loads of 256 bytes until the stream ends.
In variants 2 and 3 the first write leaves at once, in a system call of its own, and
the other four, which pile up behind it, leave together in one more.

    python examples/batched_sends.py [--service 1337] [--packets 5]
"""

from __future__ import annotations

import argparse

import trio

from trio_sockets import (
    DataReader,
    HostName,
    InputStreamOptions,
    OutputStream,
    StreamSocket,
    StreamSocketListener,
)

MESSAGE = "Hello, World!"


async def send_multiple_buffers_inefficiently(stream: OutputStream, packets: list[bytes]) -> None:
    """Each write is awaited before the next starts: one kernel transition per packet."""
    for packet in packets:
        await stream.write(packet)


async def batched_sends_gathered(stream: OutputStream, packets: list[bytes]) -> None:
    """Start every write, then wait for all of them (C#'s Task.WaitAll)."""
    pending_writes = [stream.write(packet) for packet in packets]
    for operation in pending_writes:
        await operation


async def batched_sends_flush(stream: OutputStream, packets: list[bytes]) -> None:
    """Start every write, then one flush waits for all of them (FlushAsync)."""
    for packet in packets:
        stream.write(packet)
    await stream.flush()


VARIANTS = {
    "inefficient": send_multiple_buffers_inefficiently,
    "gathered": batched_sends_gathered,
    "flush": batched_sends_flush,
}


async def run_server(
    service: str,
    connections: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> list[str]:
    """Accept *connections* connections; read each with PARTIAL loads until it ends."""
    received: list[str] = []
    async with StreamSocketListener() as listener:
        await listener.bind_service_name(service)
        task_status.started(listener.information.local_port)
        for _ in range(connections):
            sock = await listener.accept()
            async with sock:
                reader = DataReader(sock.input_stream)
                reader.input_stream_options = InputStreamOptions.PARTIAL
                text = ""
                while await reader.load(256) != 0:
                    request = reader.read_string(reader.unconsumed_buffer_length)
                    print(f'server received the request: "{request}"')
                    text += request
                received.append(text)
    return received


async def run_client(service: str, packet_count: int) -> None:
    packets = [MESSAGE.encode() for _ in range(packet_count)]
    for name, send in VARIANTS.items():
        async with StreamSocket() as sock:
            await sock.connect(HostName("localhost"), service)
            await send(sock.output_stream, packets)
            print(f"client sent {packet_count} packets ({name})")


async def main(service: str = "1337", packet_count: int = 5) -> list[str]:
    """Run the server and the three client variants; return what each connection carried."""
    async with trio.open_nursery() as nursery:
        results: list[str] = []

        async def server(task_status: trio.TaskStatus[str]) -> None:
            results.extend(await run_server(service, len(VARIANTS), task_status=task_status))

        port = await nursery.start(server)
        await run_client(port, packet_count)
    return results


#: The most packets per variant: each variant holds its packets in a list.
MAX_PACKETS = 1_000_000


def count(text: str) -> int:
    """An argparse type: a whole number from 0 to :data:`MAX_PACKETS`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_PACKETS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {MAX_PACKETS:,}, not {text[:80]!r}"
        )
    return value


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--service", default="1337", help="port or service name (default 1337)")
    parser.add_argument("--packets", type=count, default=5, help="packets per variant (default 5)")
    arguments = parser.parse_args()
    command_line.run(main, arguments.service, arguments.packets)

"""The WinRT "WebSocket" sample's binary data stream (StreamWebSocket), ported to trio_sockets.

A StreamWebSocket connects to an echo server and runs two background tasks: one sends
the bytes 0 to 9 with a DataWriter every second, the other reads what comes back with a
DataReader and counts it. Once every chunk has come back, the client stops: it closes
with code 1000 and a reason, and the read task ends with OPERATION_CANCELED, as in the
sample. The sample talks to its own IIS server; this script starts an echo server on
loopback, a ServerStreamWebSocket over a StreamSocketListener, unless --uri names
another one.

    python examples/websocket_stream.py                       # 3 chunks, one a second
    python examples/websocket_stream.py --chunks 10 --interval 0.1
    python examples/websocket_stream.py --uri ws://127.0.0.1:8080/   # a server of your own
"""

from __future__ import annotations

import argparse
import math
import sys

import trio

from trio_sockets import (
    DataReader,
    DataWriter,
    HostName,
    InputStreamOptions,
    ServerStreamWebSocket,
    StreamSocketListener,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketError,
    WebSocketStatusError,
)

DATA = bytes([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09])
CLOSE_REASON = "Closed due to user request."


def build_web_socket_error(error: BaseException) -> str:
    """The sample's error text (MainPage.BuildWebSocketError): what the status means."""
    status = WebSocketError.get_status(error)
    if status in (
        WebErrorStatus.CANNOT_CONNECT,
        WebErrorStatus.NOT_FOUND,
        WebErrorStatus.REQUEST_TIMEOUT,
    ):
        return "Cannot connect to the server. Please make sure the server is running."
    if status == WebErrorStatus.UNKNOWN:
        return f"Unknown error: {error!r}"
    return f"Error: {status.name}"


def report_stop(direction: str, error: WebSocketStatusError) -> None:
    """How a background task ended: canceled by the local close, or an error."""
    status = WebSocketError.get_status(error)
    if status == WebErrorStatus.OPERATION_CANCELED:
        print(f"Background {direction} canceled.")
    else:
        print(f"Error: {status.name}")
        print(error)


async def run_echo_server(
    service: str = "0", *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Echo the bytes of one WebSocket connection on 127.0.0.1; report the URI to
    connect to."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), service)
        print("server is listening...")
        task_status.started(f"ws://127.0.0.1:{listener.information.local_port}/echo")
        args = await listener.connection_received.receive()
        await listener.aclose()  # one connection is all the sample makes
        async with ServerStreamWebSocket(args.socket) as server_socket:
            await server_socket.receive_request()
            await server_socket.accept()
            while data := await server_socket.receive_some():
                await server_socket.send_all(data)


class Counters:
    """The sample page's "Bytes sent" and "Bytes received" fields, and when every byte
    sent has come back."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.sent = 0
        self.received = 0
        self.echoed = trio.Event()


async def send_data(active_socket: StreamWebSocket, counters: Counters, interval: float) -> None:
    """Send DATA until ``counters.expected`` bytes are sent, one chunk every *interval*
    seconds."""
    print(f"Background sending data in {len(DATA)} byte chunks every {interval:g} s.")
    try:
        while counters.sent < counters.expected:
            if counters.sent:
                # Delay so the user can watch what's going on.
                await trio.sleep(interval)
            data_writer = DataWriter(active_socket.output_stream)
            data_writer.write_bytes(DATA)
            await data_writer.store()
            data_writer.detach_stream()
            counters.sent += len(DATA)
    except WebSocketStatusError as error:
        report_stop("write", error)


async def receive_data(active_socket: StreamWebSocket, counters: Counters) -> None:
    """Read until the socket closes, counting the bytes."""
    data_reader = DataReader(active_socket.input_stream)
    data_reader.input_stream_options = InputStreamOptions.PARTIAL
    try:
        print("Background read starting.")
        while True:
            if counters.received >= counters.expected:
                counters.echoed.set()
            read = await data_reader.load(256)
            if read == 0:
                print("Background read ended: the server closed the connection.")
                return
            data_reader.read_bytes(read)
            counters.received += read
    except WebSocketStatusError as error:
        report_stop("read", error)
    finally:
        counters.echoed.set()  # nothing more will come: stop waiting for it


async def run_client(uri: str, chunks: int = 3, interval: float = 1.0) -> Counters:
    """Connect to *uri*, send *chunks* chunks and read their echoes, then stop; return
    the counters."""
    async with StreamWebSocket() as stream_web_socket:
        print(f"Connecting to {uri}...")
        try:
            await stream_web_socket.connect(uri)
        except OSError as error:
            print(build_web_socket_error(error))
            print(error)
            raise
        print("Connected")

        counters = Counters(chunks * len(DATA))
        async with trio.open_nursery() as nursery:
            # Start a task to continuously read for incoming data
            nursery.start_soon(receive_data, stream_web_socket, counters)
            # Start a task to continuously write outgoing data
            nursery.start_soon(send_data, stream_web_socket, counters, interval)
            await counters.echoed.wait()  # the user watches the counters, then presses Stop
            print("Stopping")
            await stream_web_socket.aclose(1000, CLOSE_REASON)

        # This may be triggered remotely by the server or locally by aclose()
        async for closed in stream_web_socket.closed:
            print(f"Closed; Code: {closed.code}, Reason: {closed.reason}")
    print(f"Bytes sent: {counters.sent}, bytes received: {counters.received}")
    return counters


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds, 0 or more, not {text!r}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return value


async def main(uri: str | None = None, chunks: int = 3, interval: float = 1.0) -> Counters:
    """Run the client against *uri*, or against a local echo server started first."""
    if uri is not None:
        return await run_client(uri, chunks, interval)
    async with trio.open_nursery() as nursery:
        local_uri = await nursery.start(run_echo_server)
        return await run_client(local_uri, chunks, interval)


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--uri", help="a ws:// or wss:// echo server (default: start one)")
    parser.add_argument("--chunks", type=count, default=3, help="chunks to send (default 3)")
    parser.add_argument(
        "--interval", type=seconds, default=1.0, help="seconds between chunks (default 1)"
    )
    arguments = parser.parse_args()
    # run_client prints what failed on the network, as the sample does.
    counters = command_line.run(
        main, arguments.uri, arguments.chunks, arguments.interval, failures_printed=True
    )
    if counters.received != counters.sent:
        sys.exit(1)  # the background tasks have printed what failed

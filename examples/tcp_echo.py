"""The WinRT "Sockets" TCP echo sample, ported to trio_sockets.

A StreamSocketListener listens on a service name; a StreamSocket connects to
"localhost", sends "Hello, World!" as one line, and reads the echo. The server logs the
request, echoes it, and closes its listener -- while still answering, as the C# sample
disposes its listener in the handler. Both sides print the sample's log lines.

    python examples/tcp_echo.py            # the sample's port, 1337
    python examples/tcp_echo.py --service 0   # any free port
"""

from __future__ import annotations

import trio

from trio_sockets import (
    DataReader,
    HostName,
    InputStreamOptions,
    SocketError,
    SocketErrorStatus,
    StreamSocket,
    StreamSocketListener,
)

REQUEST = "Hello, World!"


def describe(error: BaseException) -> str:
    """The sample's error text: the status name, or the message when it is UNKNOWN."""
    status = SocketError.get_status(error)
    return status.name if status != SocketErrorStatus.UNKNOWN else str(error)


async def read_line(reader: DataReader) -> str:
    """Load until a newline (the C# StreamReader.ReadLineAsync); without it."""
    line = bytearray()
    while True:
        if reader.unconsumed_buffer_length == 0 and await reader.load(256) == 0:
            break  # the peer closed its side
        byte = reader.read_byte()
        if byte == ord("\n"):
            break
        line.append(byte)
    return line.decode().rstrip("\r")


async def run_server(
    service: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Listen on *service*, echo one line back, close the listener; report the port."""
    try:
        async with StreamSocketListener() as listener:
            await listener.bind_service_name(service)
            print("server is listening...")
            task_status.started(listener.information.local_port)
            async for args in listener.connection_received:
                async with args.socket as sock:
                    reader = DataReader(sock.input_stream)
                    reader.input_stream_options = InputStreamOptions.PARTIAL
                    request = await read_line(reader)
                    print(f'server received the request: "{request}"')
                    # Echo the request back as the response.
                    await sock.output_stream.write(f"{request}\n".encode())
                    await sock.output_stream.flush()
                    print(f'server sent back the response: "{request}"')
                    await listener.aclose()
                    print("server closed its socket")
    except OSError as error:
        print(describe(error))
        raise


async def run_client(service: str) -> str:
    """Connect to localhost:*service*, send the request, return the echoed response."""
    try:
        async with StreamSocket() as sock:
            host_name = HostName("localhost")
            print("client is trying to connect...")
            await sock.connect(host_name, service)
            print("client connected")
            # Send a request to the echo server.
            sock.output_stream.write(f"{REQUEST}\n".encode())
            await sock.output_stream.flush()
            print(f'client sent the request: "{REQUEST}"')
            # Read data from the echo server.
            reader = DataReader(sock.input_stream)
            reader.input_stream_options = InputStreamOptions.PARTIAL
            response = await read_line(reader)
            print(f'client received the response: "{response}" ')
        print("client closed its socket")
        return response
    except OSError as error:
        print(describe(error))
        raise


async def main(service: str = "1337") -> str:
    """Run the server and the client in one process, as the sample does."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(run_server, service)
        return await run_client(port)


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--service", default="1337", help="port or service name (default 1337)")
    # run_server and run_client print what failed on the network, as the sample does.
    command_line.run(main, parser.parse_args().service, failures_printed=True)

"""The WinRT "WebSockets" MessageWebSocket sample, ported to trio_sockets.

A MessageWebSocket connects to an echo server, sends "Hello, World!" as one UTF-8 text
message through a DataWriter, reads the echo with a DataReader, and closes with code 1000
and a reason, which the server echoes back too. The sample talks to a public echo server;
this script starts its own on loopback, a ServerMessageWebSocket over a
StreamSocketListener, unless --uri names another server.

    python examples/websocket_echo.py                    # a local echo server, any free port
    python examples/websocket_echo.py --message "héllo"
    python examples/websocket_echo.py --uri ws://127.0.0.1:8080/   # a server of your own
"""

from __future__ import annotations

import trio

from trio_sockets import (
    DataWriter,
    HostName,
    MessageWebSocket,
    ServerMessageWebSocket,
    SocketMessageType,
    StreamSocketListener,
    UnicodeEncoding,
    WebErrorStatus,
    WebSocketError,
)

MESSAGE = "Hello, World!"
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


async def run_echo_server(
    service: str = "0", *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Echo every message of one WebSocket connection, with its type, on 127.0.0.1;
    report the URI to connect to."""
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), service)
        print("server is listening...")
        task_status.started(f"ws://127.0.0.1:{listener.information.local_port}/echo")
        args = await listener.connection_received.receive()
        await listener.aclose()  # one connection is all the sample makes
        async with ServerMessageWebSocket(args.socket) as server_socket:
            await server_socket.receive_request()
            await server_socket.accept()
            async for message in server_socket.message_received:
                server_socket.control.message_type = message.message_type
                await server_socket.output_stream.write(message.data)


async def run_client(uri: str, message: str = MESSAGE) -> str:
    """Connect to *uri*, send *message* as text, and return the echo."""
    async with MessageWebSocket() as message_web_socket:
        # In this example, we send/receive a string, so we need to set the MessageType to Utf8.
        message_web_socket.control.message_type = SocketMessageType.UTF8

        print(f"Connecting to {uri}...")
        try:
            await message_web_socket.connect(uri)
        except OSError as error:
            print(build_web_socket_error(error))
            print(error)
            raise
        print("Connected")

        # The default DataWriter encoding is Utf8.
        message_writer = DataWriter(message_web_socket.output_stream)
        print(f"Sending Message: {message}")
        # Buffer any data we want to send.
        message_writer.write_string(message)
        # Send the data as one complete message.
        await message_writer.store()
        message_writer.detach_stream()

        response = ""
        async for args in message_web_socket.message_received:
            print(f"Message Received; Type: {args.message_type.name}")
            try:
                with args.get_data_reader() as reader:
                    reader.unicode_encoding = UnicodeEncoding.UTF8
                    response = reader.read_string(reader.unconsumed_buffer_length)
            except OSError as error:
                print(build_web_socket_error(error))
                print(error)
                raise
            print(response)
            await message_web_socket.aclose(1000, CLOSE_REASON)

        # This may be triggered remotely by the server or locally by aclose()
        async for closed in message_web_socket.closed:
            print(f"Closed; Code: {closed.code}, Reason: {closed.reason}")
    return response


async def main(uri: str | None = None, message: str = MESSAGE) -> str:
    """Run the client against *uri*, or against a local echo server started first."""
    if uri is not None:
        return await run_client(uri, message)
    async with trio.open_nursery() as nursery:
        local_uri = await nursery.start(run_echo_server)
        return await run_client(local_uri, message)


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument("--uri", help="a ws:// or wss:// echo server (default: start one)")
    parser.add_argument("--message", default=MESSAGE, help=f"the text to send ({MESSAGE!r})")
    arguments = parser.parse_args()
    if not arguments.message:
        # A DataWriter stores nothing for an empty buffer: no message would go out.
        parser.error("--message must not be empty")
    # run_client prints what failed on the network, as the sample does.
    command_line.run(main, arguments.uri, arguments.message, failures_printed=True)

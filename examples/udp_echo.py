"""The WinRT "Sockets" UDP echo sample, ported to trio_sockets.

A server DatagramSocket binds to a port and waits for one message; a client
DatagramSocket binds to another port, and a third, separate socket sends the request
"Hello, World!" to the server through ``get_output_stream``. The server answers the
sender's address at the client's port, and the client's socket receives the echo. Both
sides print the sample's log lines.

    python examples/udp_echo.py                        # the sample's ports, 1337 and 1336
    python examples/udp_echo.py --server-service 0 --client-service 0   # free ports
"""

from __future__ import annotations

import trio

from trio_sockets import DatagramSocket, HostName, SocketError, SocketErrorStatus

REQUEST = "Hello, World!"


def describe(error: BaseException) -> str:
    """The sample's error text: the status name, or the message when it is UNKNOWN."""
    status = SocketError.get_status(error)
    return status.name if status != SocketErrorStatus.UNKNOWN else str(error)


async def run_server(
    service: str,
    client_ports: trio.MemoryReceiveChannel[str],
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Bind to *service*, echo one request to the client's port, close; report the port.

    The sample's server knows the client's port (1336). Here the client reports the
    port it is bound to through *client_ports*, so free ports ("0") work too.
    """
    try:
        async with DatagramSocket() as sock:
            print("server is about to bind...")
            await sock.bind_service_name(service)
            port = sock.information.local_port
            print(f"server is bound to port number {port}")
            task_status.started(port)
            client_port = await client_ports.receive()
            async for args in sock.message_received:
                with args.get_data_reader() as reader:
                    request = reader.read_string(reader.unconsumed_buffer_length).strip()
                print(f'server received the request: "{request}"')
                # Echo the request back as the response.
                assert args.remote_address is not None
                stream = await sock.get_output_stream(args.remote_address, client_port)
                await stream.write(f"{request}\n".encode())
                await stream.flush()
                print(f'server sent back the response: "{request}"')
                break
        print("server closed its socket")
    except OSError as error:
        print(describe(error))
        raise


async def run_client(
    service: str, server_service: str, client_ports: trio.MemorySendChannel[str]
) -> str:
    """Bind to *service*, send the request to localhost:*server_service* through a
    separate socket, and return the echoed response."""
    try:
        async with DatagramSocket() as sock:
            host_name = HostName("localhost")
            print("client is about to bind...")
            await sock.bind_service_name(service)
            port = sock.information.local_port
            print(f"client is bound to port number {port}")
            await client_ports.send(port)
            # Send a request to the echo server, through a socket of its own.
            async with DatagramSocket() as sender:
                stream = await sender.get_output_stream(host_name, server_service)
                await stream.write(f"{REQUEST}\n".encode())
                await stream.flush()
            print(f'client sent the request: "{REQUEST}"')
            args = await sock.message_received.receive()
            with args.get_data_reader() as reader:
                response = reader.read_string(reader.unconsumed_buffer_length).strip()
            print(f'client received the response: "{response}"')
        print("client closed its socket")
        return response
    except OSError as error:
        print(describe(error))
        raise


async def main(server_service: str = "1337", client_service: str = "1336") -> str:
    """Run the server and the client in one process, as the sample does."""
    send_port, receive_port = trio.open_memory_channel[str](1)
    async with trio.open_nursery() as nursery:
        server_port = await nursery.start(run_server, server_service, receive_port)
        return await run_client(client_service, server_port, send_port)


if __name__ == "__main__":
    import command_line  # beside this script: its parser and its end on failure

    parser = command_line.parser(__doc__)
    parser.add_argument(
        "--server-service", default="1337", help="the server's port (default 1337; 0 = free)"
    )
    parser.add_argument(
        "--client-service", default="1336", help="the client's port (default 1336; 0 = free)"
    )
    arguments = parser.parse_args()
    # run_server and run_client print what failed on the network, as the sample does.
    command_line.run(
        main, arguments.server_service, arguments.client_service, failures_printed=True
    )

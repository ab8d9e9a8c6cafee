"""The ``trio-sockets`` commands beyond the demo: ``echo-server``, ``send``, ``resolve``.

Each command is a coroutine taking the parsed arguments; :func:`run` maps failures to a
one-line message and an exit status (1 for a network failure, named by its
``SocketErrorStatus``, or its ``WebErrorStatus`` for a WebSocket; 2 for bad input; 141,
quietly, when the reader of standard output went away; 74 when standard input or
output failed otherwise; quietly, 130 for Ctrl-C, and 143 or 129 for SIGTERM or SIGHUP,
which end it as Ctrl-C does: see :mod:`.termination`).
The WebSocket sides of ``echo-server`` and ``send`` are in :mod:`.websocket`, ``resolve`` in
:mod:`.resolve`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from .._core.checks import shown
from .._core.enums import SocketProtectionLevel
from .._core.errors import SocketError
from .._core.web_errors import WebSocketError, WebSocketStatusError
from .._sockets.datagram_answer import answer_stream
from .._sockets.datagram_socket import DatagramSocket
from .._sockets.listener import StreamSocketListener
from .._sockets.stream_socket import StreamSocket
from .lines import lines_written, progress_stream, say, warn
from .progress import Progress, wanted
from .resolve import resolve_command
from .stdio import (
    StandardInput,
    StandardOutput,
    StdioError,
    blocking_modes_kept,
    checked_stdout,
    discard_stdout,
)
from .termination import Termination, run_until_terminated
from .tls_options import (
    add_handshakes_option,
    add_level_option,
    add_tls_client_options,
    certificate,
    file_name,
    level_of,
    report_handshake_failures,
    use_tls_options,
    wants_tls,
)
from .websocket import (
    add_websocket_options,
    echo_websocket,
    is_websocket_target,
    listening_uri,
    send_messages,
    websocket_client,
)

__all__ = ["add_commands", "first_os_error", "run"]

E = TypeVar("E", bound=BaseException)

#: Bytes read from standard input per chunk (for UDP: the largest datagram ``send`` makes).
CHUNK = 65507


def add_commands(commands: Any) -> None:
    """Register the commands on an ``argparse`` sub-parser collection."""
    echo = commands.add_parser(
        "echo-server",
        help="echo back what clients send, over TCP (default), UDP or WebSocket",
        description="Listen on SERVICE and echo back every byte (TCP), datagram (UDP) or "
        "WebSocket message (with its type). Prints 'listening on port N' once bound.",
    )
    echo.add_argument("service", help="port or service name to listen on; 0 picks a free port")
    echo.add_argument("--udp", action="store_true", help="echo datagrams instead of streams")
    echo.add_argument(
        "--websocket",
        action="store_true",
        help="serve WebSocket (ws://, or wss:// with --tls-cert) on any path and echo each "
        "message back with its type",
    )
    echo.add_argument(
        "--host", default=None, help="local address to listen on (default: every address)"
    )
    echo.add_argument(
        "--count",
        type=_positive_int,
        default=None,
        help="stop after this many connections (TCP, WebSocket) or datagrams (UDP)",
    )
    tls = echo.add_argument_group("TLS (TCP and WebSocket)")
    tls.add_argument(
        "--tls-cert",
        metavar="FILE",
        type=file_name,
        help="serve TLS with this certificate (PEM, key may follow)",
    )
    tls.add_argument(
        "--tls-key", metavar="FILE", type=file_name, help="the certificate's private key (PEM)"
    )
    tls.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        type=file_name,
        help="require client certificates issued by an authority of this PEM file",
    )
    add_level_option(tls)
    add_handshakes_option(tls)
    echo.set_defaults(handler=echo_server)

    send = commands.add_parser(
        "send",
        help="send standard input to a remote service or WebSocket, print what comes back "
        "(like netcat)",
        description="Connect to HOST SERVICE (or a ws:// or wss:// URI), send standard "
        "input, and write what the remote sends to standard output. Over TCP the sending "
        "side is closed when standard input ends, and the command ends with the remote's "
        "end of stream; over UDP each chunk read is one datagram, and replies are awaited "
        "for --wait seconds. To a WebSocket each line is one text message (--binary: each "
        "chunk one binary message), each message received is written followed by a "
        "newline (--binary: as it is), and when standard input ends replies are awaited "
        "as for UDP, then the WebSocket is closed with code 1000. The bytes sent and "
        "received and their rates are shown on standard error when it is a terminal and "
        "standard output is not.",
    )
    send.add_argument(
        "host", metavar="HOST|URI", help="remote host name or address, or a ws:// or wss:// URI"
    )
    send.add_argument(
        "service",
        nargs="?",
        help="remote port or service name (DNS SRV when not a port); none with a URI",
    )
    send.add_argument("--udp", action="store_true", help="send datagrams instead of a stream")
    send.add_argument(
        "--wait",
        type=_seconds,
        default=1.0,
        help="UDP, TLS and WebSocket: seconds to wait for replies after standard input "
        "ends, and for TLS and WebSocket, between replies (default 1)",
    )
    add_websocket_options(send)
    add_tls_client_options(send)
    send.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show (or never show) the bytes sent and received and their rates on standard "
        "error (default: when standard error is a terminal and standard output is not)",
    )
    send.set_defaults(handler=send_command)

    resolve = commands.add_parser(
        "resolve",
        help="show how HOST SERVICE resolves: services database, SRV targets, addresses",
    )
    resolve.add_argument("host", help="host name or address")
    resolve.add_argument("service", help="port or service name")
    resolve.add_argument("--udp", action="store_true", help="resolve for UDP (default TCP)")
    resolve.add_argument(
        "--nameserver",
        action="append",
        default=None,
        help="ask this DNS server instead of the system's (repeatable)",
    )
    resolve.add_argument("--port", type=int, default=None, help="port of --nameserver (53)")
    resolve.set_defaults(handler=resolve_command)


def _positive_int(text: str) -> int:
    """An argparse type: a count of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{shown(text)} must be at least 1")
    return value


def _seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"{shown(text)} must be a finite number of seconds, 0 or more"
        )
    return value


def _first(failure: BaseException, kinds: type[E] | tuple[type[E], ...]) -> E | None:
    """The first exception of *kinds* in *failure*, which trio may have wrapped in groups."""
    if isinstance(failure, kinds):
        return failure
    if isinstance(failure, BaseExceptionGroup):
        for inner in failure.exceptions:
            found = _first(inner, kinds)
            if found is not None:
                return found
    return None


def first_os_error(failure: BaseException) -> OSError | None:
    """The network failure behind *failure*."""
    return _first(failure, OSError)


#: The exit status when standard output was closed: what a shell reports for a program
#: that SIGPIPE ended (128 + 13).
OUTPUT_CLOSED = 141

#: The exit status when standard input or output failed otherwise (``/dev/full``):
#: sysexits.h's ``EX_IOERR``.
IO_FAILED = 74


# What ends a command with a one-line cause (anything else is a bug: its traceback helps).
_ENDS = (OSError, ValueError, TypeError, StdioError, BaseExceptionGroup, trio.BrokenResourceError)


def run(command: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace) -> int:
    """Run *command*; return the exit status, printing a one-line cause on failure.

    Standard input, output and error are left blocking or not as they were found,
    whatever way the command ends but the uncatchable (SIGKILL). The command's lines
    never make it wait (:func:`.lines.lines_written`).
    """
    termination = Termination()

    async def with_lines(args: argparse.Namespace) -> None:
        async with lines_written():
            await command(args)

    try:
        with checked_stdout(), blocking_modes_kept():
            trio.run(run_until_terminated, with_lines, args, termination)
    except KeyboardInterrupt:
        return 130
    except _ENDS as failure:
        stdio = _first(failure, StdioError)
        if stdio is not None and stdio.stream == "standard output":
            discard_stdout()  # what is still buffered for it must not fail at exit
        if termination.status is not None:  # what failed while it unwound is no news
            return termination.status
        if _first(failure, KeyboardInterrupt) is not None:
            return 130
        if stdio is not None:
            if stdio.reader_gone:
                return OUTPUT_CLOSED
            warn(f"trio-sockets: {stdio}")
            return IO_FAILED
        error = first_os_error(failure)
        if error is not None:
            status = (
                WebSocketError.get_status(error)
                if isinstance(error, WebSocketStatusError)
                else SocketError.get_status(error)
            ).name
            warn(f"trio-sockets: {status}: {error}")
            return 1
        bad_input = _first(failure, (ValueError, TypeError))
        if bad_input is None:
            raise
        warn(f"trio-sockets: {bad_input}")
        return 2
    return termination.status or 0


# -- echo-server ---------------------------------------------------------------------


async def echo_server(args: argparse.Namespace) -> None:
    tls = args.tls_cert is not None
    given = (args.tls_key, args.tls_client_ca, args.tls_handshakes_per_address, args.tls_level)
    if any(value is not None for value in given) and not tls:
        raise ValueError(
            "--tls-key, --tls-client-ca, --tls-handshakes-per-address and --tls-level need "
            "--tls-cert"
        )
    if args.udp:
        if tls:
            raise ValueError("--tls-cert serves TLS over TCP; it cannot go with --udp")
        if args.websocket:
            raise ValueError("--websocket serves over TCP; it cannot go with --udp")
        await _udp_echo_server(args.host, args.service, args.count)
    else:
        await _tcp_echo_server(args.host, args.service, args.count, args)


async def _tcp_echo_server(
    host: str | None, service: str, count: int | None, options: argparse.Namespace
) -> None:
    async with StreamSocketListener() as listener:
        level = SocketProtectionLevel.PLAIN_SOCKET
        if options.tls_cert is not None:
            level = level_of(options)
            control = listener.control
            control.server_certificate = certificate(
                options.tls_cert, options.tls_key, "--tls-cert", "--tls-key", presented_at=level
            )
            if options.tls_client_ca is not None:
                control.client_certificate_required = True
                control.trusted_certificates = [
                    certificate(options.tls_client_ca, None, "--tls-client-ca")
                ]
            if options.tls_handshakes_per_address is not None:
                control.max_tls_handshakes_per_address = options.tls_handshakes_per_address
        await listener.bind_endpoint(host, service, level)
        port = listener.information.local_port
        plain = level == SocketProtectionLevel.PLAIN_SOCKET
        kind = "TCP" if plain else f"TLS, {level.name}"
        handler = _echo_connection
        if options.websocket:
            handler = echo_websocket
            uri = listening_uri(host, port, secure=not plain)
            kind = f"WebSocket, {uri}" if plain else f"WebSocket over {kind}, {uri}"
        say(f"listening on port {port} ({kind})")
        async with trio.open_nursery() as nursery:
            reporting = None
            if not plain:
                reporting = await nursery.start(report_handshake_failures, listener)
            served = 0
            async for args in listener.connection_received:
                nursery.start_soon(handler, args.socket)
                served += 1
                if count is not None and served >= count:
                    await listener.aclose()
            if reporting is not None:
                reporting.cancel()


async def _echo_connection(sock: StreamSocket) -> None:
    peer = f"{sock.information.remote_address}:{sock.information.remote_port}"
    total = 0
    try:
        async with sock:
            while data := await sock.receive_some():
                await sock.send_all(data)
                total += len(data)
    except OSError as error:
        warn(f"{peer}: {SocketError.get_status(error).name}: {error}")
    else:
        say(f"{peer}: echoed {total} bytes")


async def _udp_echo_server(host: str | None, service: str, count: int | None) -> None:
    async with DatagramSocket() as sock:
        await sock.bind_endpoint(host, service)
        say(f"listening on port {sock.information.local_port} (UDP)")
        echoed = 0
        async for message in sock.message_received:
            if message.error is not None:
                continue
            assert message.remote_address is not None
            sender = f"{message.remote_address.display_name} port {message.remote_port}"
            if message.remote_port == "0":
                # Legal in UDP (no answer wanted), and nothing can be sent to port 0.
                warn(f"{sender}: not answered: a datagram from port 0 cannot be answered")
                continue
            try:
                stream = await answer_stream(sock, message)
                await stream.write(message.data)
            except OSError as error:  # one sender that cannot be answered stops nothing
                warn(f"{sender}: {SocketError.get_status(error).name}: {error}")
                continue
            echoed += 1
            if count is not None and echoed >= count:
                break


# -- send --------------------------------------------------------------------------------


async def send_command(args: argparse.Namespace) -> None:
    show = wanted(args.progress, sys.stderr, sys.stdout)
    async with StandardInput() as stdin, StandardOutput() as stdout:
        with Progress(progress_stream() if show else None) as progress:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(progress.keep_drawing)
                service: str | None = args.service
                if service is None and "://" not in args.host:
                    raise ValueError(
                        f"send {shown(args.host)}: give the SERVICE (a port or service "
                        "name) after the host, or a ws:// or wss:// URI"
                    )
                if is_websocket_target(args.host, service):
                    ws = websocket_client(args)
                    await send_messages(ws, args, stdin, stdout, progress, CHUNK)
                elif args.binary or args.header or args.protocol:
                    raise ValueError("--binary, --header and --protocol go with a WebSocket URI")
                elif args.udp:
                    if wants_tls(args):
                        raise ValueError("TLS options go with TCP, not --udp")
                    assert service is not None  # else a WebSocket URI, above
                    await _send_udp(args.host, service, args.wait, stdin, stdout, progress)
                else:
                    sock = StreamSocket()
                    if wants_tls(args):
                        use_tls_options(sock.control, args)
                    await _send_tcp(sock, args, stdin, stdout, progress)
                nursery.cancel_scope.cancel()


async def _send_tcp(
    sock: StreamSocket,
    args: argparse.Namespace,
    stdin: StandardInput,
    stdout: StandardOutput,
    progress: Progress,
) -> None:
    tls = wants_tls(args)
    level = level_of(args) if tls else SocketProtectionLevel.PLAIN_SOCKET
    async with sock:
        await sock.connect(args.host, args.service, level)
        # Over TLS, which cannot half-close, replies are awaited until none came for
        # --wait seconds once standard input has ended.
        receiving = trio.CancelScope()
        input_ended = False

        async def upload() -> None:
            nonlocal input_ended
            while data := await stdin.receive_some(CHUNK):
                sock.output_stream.write(data)
                await sock.output_stream.flush()
                progress.sent(len(data))
            if tls:
                input_ended = True
                receiving.deadline = trio.current_time() + args.wait
            else:
                await sock.send_eof()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(upload)
            with receiving:
                while data := await sock.receive_some():
                    await stdout.send_all(data)
                    progress.received(len(data))
                    if input_ended:
                        receiving.deadline = trio.current_time() + args.wait
            # The remote's end of stream (or --wait without replies) ends the command,
            # whether or not standard input has ended.
            nursery.cancel_scope.cancel()


async def _send_udp(
    host: str,
    service: str,
    wait: float,
    stdin: StandardInput,
    stdout: StandardOutput,
    progress: Progress,
) -> None:
    async with DatagramSocket() as sock:
        await sock.connect(host, service)

        async def print_replies() -> None:
            async for message in sock.message_received:
                if message.error is not None:
                    # An ICMP error (port unreachable...): the remote is not there.
                    raise message.error
                await stdout.send_all(message.data)
                progress.received(len(message.data))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(print_replies)
            while data := await stdin.receive_some(CHUNK):
                # Counted first: the datagram leaves before the write's checkpoint, where
                # the reply task's failure (its ICMP error) may cancel this one.
                progress.sent(len(data))
                await sock.output_stream.write(data)
            await trio.sleep(wait)
            nursery.cancel_scope.cancel()

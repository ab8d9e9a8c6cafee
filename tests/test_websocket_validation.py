"""Custom validation of a ``wss://`` server (``server_custom_validation_requested``),
against the ``websockets`` library's TLS server with trustme certificates."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio
import trustme
from conftest import live_tasks, open_fd_count, wait_until
from hypothesis import given, settings
from hypothesis import strategies as st
from ws_peers import WebsocketsServer

from trio_sockets import (
    Certificate,
    ChainValidationResult,
    Deferral,
    MessageWebSocket,
    SocketSslErrorSeverity,
    StreamWebSocket,
    WebErrorStatus,
    WebSocketError,
    WebSocketServerCustomValidationRequestedEventArgs,
    WebSocketStatusError,
)
from trio_sockets._websockets.validation import validate_server
from trio_sockets.testing import TlsCertificates

Args = WebSocketServerCustomValidationRequestedEventArgs
Handler = Callable[[Args], Awaitable[None]]


@pytest.fixture
def certificates(tmp_path: Path) -> TlsCertificates:
    return TlsCertificates(tmp_path)


@pytest.fixture
def wss(certificates: TlsCertificates) -> Iterator[WebsocketsServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates.files("server"))
    with WebsocketsServer(ssl=context) as server:
        yield server


async def echo(ws: MessageWebSocket, data: bytes) -> bytes:
    await ws.output_stream.write(data)
    with trio.fail_after(10):
        args = await ws.message_received.receive()
    return args.data


async def connect_validated(
    ws: MessageWebSocket | StreamWebSocket, url: str, handler: Handler
) -> list[Args]:
    """Connect with custom validation on, *handler* answering in its own task."""
    seen: list[Args] = []
    failure: WebSocketStatusError | None = None
    ws.control.server_custom_validation = True
    async with trio.open_nursery() as nursery:

        async def validate() -> None:
            async for args in ws.server_custom_validation_requested:
                seen.append(args)
                await handler(args)

        nursery.start_soon(validate)
        try:
            with trio.fail_after(10):
                await ws.connect(url)
        except WebSocketStatusError as exc:
            failure = exc  # raised bare, not in the nursery's group
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return seen


async def test_a_handler_that_does_not_reject_lets_the_connect_go_on(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async def accept(args: Args) -> None:
        pass

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        seen = await connect_validated(ws, wss.url("/echo", "wss"), accept)
        assert len(seen) == 1
        args = seen[0]
        assert args.server_certificate == certificates.server
        assert args.server_certificate_errors == []
        assert args.server_certificate_error_severity is SocketSslErrorSeverity.NONE
        assert args.server_intermediate_certificates == []
        assert await echo(ws, b"validated") == b"validated"
    # After the handler, the event is over: a late answer is an error, not ignored.
    with pytest.raises(RuntimeError, match=r"reject\(\): this server validation is over"):
        args.reject()
    with pytest.raises(RuntimeError, match=r"get_deferral\(\): this server validation is over"):
        args.get_deferral()


async def test_reject_fails_the_connect_closes_it_and_the_socket_can_retry(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async def reject(args: Args) -> None:
        args.reject()

    async def accept(args: Args) -> None:
        pass

    fds = open_fd_count()
    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        with pytest.raises(WebSocketStatusError) as caught:
            await connect_validated(ws, wss.url("/echo", "wss"), reject)
        assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID
        assert WebSocketError.get_status(caught.value) is WebErrorStatus.CERTIFICATE_IS_INVALID
        assert "rejected by the application" in str(caught.value)
        # The certificate the application refused stays readable, as after any failure.
        assert ws.information.server_certificate == certificates.server
        # The rejected connection was closed: only the peer's own descriptors remain.
        await wait_until(lambda: open_fd_count() == fds, within=5)
        assert not wss.closes  # the WebSocket handshake never reached the server
        await connect_validated(ws, wss.url("/echo", "wss"), accept)
        assert await echo(ws, b"second") == b"second"


@pytest.mark.parametrize("reject", [False, True])
async def test_a_deferral_keeps_the_connect_waiting_across_awaits(
    wss: WebsocketsServer, certificates: TlsCertificates, reject: bool
) -> None:
    steps: list[str] = []

    async def slow(args: Args) -> None:
        deferral = args.get_deferral()
        await trio.sleep(0.2)  # e.g. a look-up of the certificate elsewhere
        steps.append("checked")
        if reject:
            args.reject()
        deferral.complete()

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        if reject:
            with pytest.raises(WebSocketStatusError) as caught:
                await connect_validated(ws, wss.url("/echo", "wss"), slow)
            assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID
        else:
            await connect_validated(ws, wss.url("/echo", "wss"), slow)
            assert await echo(ws, b"deferred") == b"deferred"
    assert steps == ["checked"]


async def test_a_deferral_completes_once_and_as_a_context_manager(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    deferrals: list[Deferral] = []

    async def twice(args: Args) -> None:
        with args.get_deferral() as deferral:
            deferrals.append(deferral)
            await trio.sleep(0.05)
        with pytest.raises(RuntimeError, match=r"Deferral.complete\(\) was already called"):
            deferral.complete()
        deferral.close()  # closing a completed deferral is a no-op

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        await connect_validated(ws, wss.url("/echo", "wss"), twice)
        assert await echo(ws, b"once") == b"once"
    assert repr(deferrals[0]) == "<Deferral completed>"


async def test_the_last_deferral_completed_decides_at_once(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    """A ``reject()`` or ``get_deferral()`` right after the last deferral completed, in
    the same task step, raises: the server was accepted then (it refused the server,
    reversing the decision, until the connect had run again)."""
    late: list[str] = []

    async def accept_then_change_its_mind(args: Args) -> None:
        deferral = args.get_deferral()
        await trio.sleep(0.05)
        deferral.complete()
        for call in (args.reject, args.get_deferral):
            with pytest.raises(RuntimeError, match="this server validation is over"):
                call()
            late.append(call.__name__)

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        await connect_validated(ws, wss.url("/echo", "wss"), accept_then_change_its_mind)
        assert await echo(ws, b"accepted") == b"accepted"
    assert late == ["reject", "get_deferral"]


async def test_an_exception_inside_a_deferral_block_rejects(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async def lookup(args: Args) -> None:
        with args.get_deferral():
            await trio.sleep(0.05)
            raise LookupError("the pin store is unreachable")

    async def failing(args: Args) -> None:
        with pytest.raises(LookupError):
            await lookup(args)

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        with pytest.raises(WebSocketStatusError) as caught:
            await connect_validated(ws, wss.url("/echo", "wss"), failing)
        assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID


async def test_without_opting_in_there_is_no_event_and_the_connect_goes_on(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async with MessageWebSocket() as ws:
        assert ws.control.server_custom_validation is False
        ws.control.trusted_certificates = [certificates.authority]
        with trio.fail_after(10):
            await ws.connect(wss.url("/echo", "wss"))
        with pytest.raises(trio.WouldBlock):
            ws.server_custom_validation_requested.receive_nowait()
        assert await echo(ws, b"plain") == b"plain"
        with pytest.raises(RuntimeError, match="server_custom_validation can only be set before"):
            ws.control.server_custom_validation = True
    with pytest.raises(TypeError, match="server_custom_validation"):
        MessageWebSocket().control.server_custom_validation = 1  # type: ignore[assignment]


async def test_ws_uris_raise_no_event() -> None:
    async def unexpected(args: Args) -> None:
        pytest.fail(f"unexpected {args}")

    with WebsocketsServer() as server:
        async with MessageWebSocket() as ws:
            assert await connect_validated(ws, server.url("/echo"), unexpected) == []
            assert await echo(ws, b"ws") == b"ws"


def pinning(pinned: bytes) -> Handler:
    """The documented pattern: compare the SHA-256 hash of the server certificate with a
    locally stored one."""

    async def check(args: Args) -> None:
        if args.server_certificate.get_hash_value("SHA256") != pinned:
            args.reject()

    return check


async def test_a_pinned_self_signed_certificate_is_accepted_and_others_refused(
    tmp_path: Path,
) -> None:
    for directory in (tmp_path / "pinned", tmp_path / "other"):
        directory.mkdir()
    pinned_ca = TlsCertificates(tmp_path / "pinned")
    other_ca = TlsCertificates(tmp_path / "other")
    pin = pinned_ca.server.get_hash_value("SHA256")
    for certs, refused in ((pinned_ca, False), (other_ca, True)):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certs.files("server"))
        with WebsocketsServer(ssl=context) as server:
            async with MessageWebSocket() as ws:
                # Not trusted by the system: the pin is the trust, so the chain error is
                # forgiven and the application decides.
                ws.control.ignorable_server_certificate_errors.add(ChainValidationResult.UNTRUSTED)
                if refused:
                    with pytest.raises(WebSocketStatusError) as caught:
                        await connect_validated(ws, server.url("/echo", "wss"), pinning(pin))
                    assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID
                else:
                    seen = await connect_validated(ws, server.url("/echo", "wss"), pinning(pin))
                    assert seen[0].server_certificate_errors == [ChainValidationResult.UNTRUSTED]
                    assert (
                        seen[0].server_certificate_error_severity
                        is SocketSslErrorSeverity.IGNORABLE
                    )
                    assert await echo(ws, b"pinned") == b"pinned"


async def test_the_event_carries_the_intermediate_certificates(tmp_path: Path) -> None:
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain, key)

    async def accept(args: Args) -> None:
        pass

    with WebsocketsServer(ssl=context) as server:
        async with MessageWebSocket() as ws:
            ws.control.trusted_certificates = [Certificate.from_pem(root.cert_pem.bytes())]
            seen = await connect_validated(ws, server.url("/echo", "wss"), accept)
    expected = Certificate.from_pem(intermediate.cert_pem.bytes())
    assert seen[0].server_intermediate_certificates == [expected]
    assert seen[0].server_certificate == Certificate.from_pem(leaf.cert_chain_pems[0].bytes())


async def test_nobody_receiving_times_out_and_a_closed_channel_refuses(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        ws.control.server_custom_validation = True
        ws.control.handshake_timeout = 0.3
        with trio.fail_after(10), pytest.raises(WebSocketStatusError) as caught:
            await ws.connect(wss.url("/echo", "wss"))
        assert caught.value.status is WebErrorStatus.TIMEOUT
        assert "nobody took the event" in str(caught.value)
        # Nobody can ever answer once the channel is closed: refused at once.
        await ws.server_custom_validation_requested.aclose()
        with trio.fail_after(10), pytest.raises(WebSocketStatusError) as caught:
            await ws.connect(wss.url("/echo", "wss"))
        assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID
        assert "server_custom_validation_requested was closed" in str(caught.value)


async def test_a_deferral_never_completed_times_out(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    kept: list[Deferral] = []

    async def forgetful(args: Args) -> None:
        kept.append(args.get_deferral())

    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        ws.control.handshake_timeout = 0.3
        with pytest.raises(WebSocketStatusError) as caught:
            await connect_validated(ws, wss.url("/echo", "wss"), forgetful)
        assert caught.value.status is WebErrorStatus.TIMEOUT
        assert "a deferral did not complete" in str(caught.value)
    kept[0].complete()  # too late, harmless; a second time is still an error
    with pytest.raises(RuntimeError, match="already called"):
        kept[0].complete()


async def test_cancelling_a_connect_during_validation_leaks_nothing(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async def accept(args: Args) -> None:
        pass

    fds, tasks = open_fd_count(), len(live_tasks())
    taken: list[tuple[Args, Deferral]] = []
    async with MessageWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        ws.control.server_custom_validation = True
        async with trio.open_nursery() as nursery:

            async def hold() -> None:
                args = await ws.server_custom_validation_requested.receive()
                taken.append((args, args.get_deferral()))

            nursery.start_soon(hold)
            with trio.move_on_after(0.3) as scope:
                await ws.connect(wss.url("/echo", "wss"))
            assert scope.cancelled_caught
        args, deferral = taken[0]
        with pytest.raises(RuntimeError, match="validation is over"):
            args.reject()
        deferral.complete()  # too late, harmless
        # The socket connects again, and the next validation lets it through.
        await connect_validated(ws, wss.url("/echo", "wss"), accept)
        assert await echo(ws, b"again") == b"again"
    assert len(live_tasks()) == tasks
    await wait_until(lambda: open_fd_count() == fds, within=5)


async def test_closing_during_validation_fails_the_connect_and_ends_the_channel(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    fds, tasks = open_fd_count(), len(live_tasks())
    failures: list[BaseException] = []
    ended = trio.Event()
    async with MessageWebSocket() as ws, trio.open_nursery() as nursery:
        ws.control.trusted_certificates = [certificates.authority]
        ws.control.server_custom_validation = True
        received = trio.Event()

        async def hold() -> None:
            async for args in ws.server_custom_validation_requested:
                args.get_deferral()  # never completed: only the close ends the wait
                received.set()
            ended.set()

        async def connect() -> None:
            try:
                await ws.connect(wss.url("/echo", "wss"))
            except WebSocketStatusError as exc:
                failures.append(exc)

        nursery.start_soon(hold)
        nursery.start_soon(connect)
        with trio.fail_after(10):
            await received.wait()
            await ws.aclose()
            await ended.wait()
    assert len(failures) == 1
    assert WebSocketError.get_status(failures[0]) is WebErrorStatus.OPERATION_CANCELED
    assert isinstance(failures[0], trio.ClosedResourceError)
    assert len(live_tasks()) == tasks
    await wait_until(lambda: open_fd_count() == fds, within=5)


async def test_stream_websocket_validates_the_server_too(
    wss: WebsocketsServer, certificates: TlsCertificates
) -> None:
    async with StreamWebSocket() as ws:
        ws.control.trusted_certificates = [certificates.authority]
        with pytest.raises(WebSocketStatusError) as caught:
            await connect_validated(ws, wss.url("/echo", "wss"), pinning(b"\0" * 32))
        assert caught.value.status is WebErrorStatus.CERTIFICATE_IS_INVALID
        pin = certificates.server.get_hash_value("SHA256")
        await connect_validated(ws, wss.url("/echo", "wss"), pinning(pin))
        await ws.send_all(b"stream")
        with trio.fail_after(10):
            assert await ws.receive_some() == b"stream"


@pytest.mark.parametrize("late", [False, True])
async def test_a_single_receive_rejects_whether_it_waits_first_or_comes_late(
    wss: WebsocketsServer, certificates: TlsCertificates, late: bool
) -> None:
    failures: list[BaseException] = []
    async with MessageWebSocket() as ws, trio.open_nursery() as nursery:
        ws.control.trusted_certificates = [certificates.authority]
        ws.control.server_custom_validation = True

        async def connect() -> None:
            try:
                await ws.connect(wss.url("/echo", "wss"))
            except WebSocketStatusError as exc:
                failures.append(exc)

        nursery.start_soon(connect)
        if late:  # the connect waits in the channel before anyone receives
            await wait_until(
                lambda: ws.server_custom_validation_requested.statistics().tasks_waiting_send == 1
            )
        with trio.fail_after(10):
            args = await ws.server_custom_validation_requested.receive()
        args.reject()
    assert [WebSocketError.get_status(exc) for exc in failures] == [
        WebErrorStatus.CERTIFICATE_IS_INVALID
    ]


SERVER = TlsCertificates().server


@settings(max_examples=300, deadline=None)
@given(
    before=st.integers(0, 4),
    connect_before=st.integers(0, 4),
    noise=st.lists(st.integers(0, 6), max_size=4),
    deferred=st.booleans(),
    reject=st.booleans(),
)
def test_the_handler_is_seen_however_the_tasks_are_scheduled(
    before: int, connect_before: int, noise: list[int], deferred: bool, reject: bool
) -> None:
    """Without the network: whether the receiver waits first or comes late, among other
    tasks, what its code does up to its first await (or under a deferral) decides."""

    async def checkpoints(count: int) -> None:
        for _ in range(count):
            await trio.lowlevel.checkpoint()

    async def main() -> WebErrorStatus | None:
        send, receive = trio.open_memory_channel[Args](0)
        args = Args(SERVER, [], [], SocketSslErrorSeverity.NONE)

        async def handler() -> None:
            await checkpoints(before)
            got = await receive.receive()
            if deferred:
                with got.get_deferral():
                    await checkpoints(3)
                    if reject:
                        got.reject()
            elif reject:
                got.reject()

        async with trio.open_nursery() as nursery:
            for count in noise:
                nursery.start_soon(checkpoints, count)
            nursery.start_soon(handler)
            await checkpoints(connect_before)
            try:
                await validate_server(send, args, 10, "connect")
            except WebSocketStatusError as exc:
                return exc.status
            return None

    assert trio.run(main) is (WebErrorStatus.CERTIFICATE_IS_INVALID if reject else None)

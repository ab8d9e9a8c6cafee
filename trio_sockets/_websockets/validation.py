"""Custom validation of a ``wss://`` server's certificate: the event a client delivers on
``server_custom_validation_requested`` (WinRT
``WebSocketServerCustomValidationRequestedEventArgs``), its :class:`Deferral` (WinRT
``Windows.Foundation.Deferral``), and the connect's wait for the answer."""

from __future__ import annotations

from types import TracebackType

import trio

from .._core.certificate import Certificate
from .._core.enums import ChainValidationResult, SocketSslErrorSeverity
from .._core.web_errors import WebErrorStatus, web_socket_error

__all__ = ["Deferral", "WebSocketServerCustomValidationRequestedEventArgs", "validate_server"]

#: The status of a connect whose server certificate the application refused.
REJECTED = WebErrorStatus.CERTIFICATE_IS_INVALID


class WebSocketServerCustomValidationRequestedEventArgs:
    """A ``wss://`` server's certificate, passed by the system's checks, for the
    application to check too (WinRT ``WebSocketServerCustomValidationRequestedEventArgs``),
    delivered on ``server_custom_validation_requested`` when
    ``control.server_custom_validation`` is on.

    ``connect()`` waits for the task that received it: the code that runs in that task
    from the moment it has the event to its first ``await`` is the handler, as a WinRT
    handler runs until its first ``await``. Call :meth:`reject` there to refuse the
    server; do nothing to let the connect go on. To ``await`` anything first, take a
    deferral before: ``with args.get_deferral(): ...`` (or ``complete()`` it), and the
    connect waits until it completes, refusing the server if :meth:`reject` was called.
    """

    __slots__ = (
        "_certificate",
        "_deferrals",
        "_done",
        "_errors",
        "_intermediates",
        "_over",
        "_rejected",
        "_severity",
    )

    def __init__(
        self,
        certificate: Certificate,
        intermediates: list[Certificate],
        errors: list[ChainValidationResult],
        severity: SocketSslErrorSeverity,
    ) -> None:
        self._certificate = certificate
        self._intermediates = intermediates
        self._errors = errors
        self._severity = severity
        self._rejected = False
        self._deferrals = 0
        self._done = trio.Event()
        self._over = False

    def __repr__(self) -> str:
        state = "over" if self._over else "rejected" if self._rejected else "open"
        name = type(self).__name__
        return f"<{name} {self._certificate.subject} {state}>"

    @property
    def server_certificate(self) -> Certificate:
        """The certificate the server offered (WinRT ``ServerCertificate``)."""
        return self._certificate

    @property
    def server_intermediate_certificates(self) -> list[Certificate]:
        """The intermediate certificates the server sent (WinRT
        ``ServerIntermediateCertificates``)."""
        return list(self._intermediates)

    @property
    def server_certificate_errors(self) -> list[ChainValidationResult]:
        """The errors the system's checks found, all of them in
        ``control.ignorable_server_certificate_errors`` (WinRT ``ServerCertificateErrors``)."""
        return list(self._errors)

    @property
    def server_certificate_error_severity(self) -> SocketSslErrorSeverity:
        """How bad those errors are (WinRT ``ServerCertificateErrorSeverity``)."""
        return self._severity

    def reject(self) -> None:
        """Refuse the server (WinRT ``Reject``): ``connect()`` fails with
        ``CERTIFICATE_IS_INVALID`` and closes the connection. There is no accept: a
        connect whose event nobody rejects goes on.

        Raises:
            RuntimeError: the validation is over (the handler returned without a
                deferral, or the last deferral completed, or the connect ended).
        """
        self._check_open("reject()")
        self._rejected = True

    def get_deferral(self) -> Deferral:
        """Keep the connect waiting until the returned deferral completes (WinRT
        ``GetDeferral``), so the handler may ``await``. Each deferral taken must
        complete; whether the server is refused is decided then, by :meth:`reject`.

        Raises:
            RuntimeError: the validation is over.
        """
        self._check_open("get_deferral()")
        self._deferrals += 1
        return Deferral(self)

    def _check_open(self, what: str) -> None:
        if self._over:
            raise RuntimeError(
                f"{what}: this server validation is over (the handler returned without a "
                "deferral, its deferrals completed, or the connect ended); take a deferral "
                "before the handler's first await"
            )

    def _complete_one(self) -> None:
        self._deferrals -= 1
        if self._deferrals == 0:
            # Decided now: a reject() after this raises, even before the connect runs.
            self._over = True
            self._done.set()


class Deferral:
    """Keeps a validation waiting while the handler works (WinRT
    ``Windows.Foundation.Deferral``). :meth:`complete` it once; as a context manager it
    completes on exit, and an exception leaving the block rejects the server first."""

    __slots__ = ("_args", "_completed")

    def __init__(self, args: WebSocketServerCustomValidationRequestedEventArgs) -> None:
        self._args = args
        self._completed = False

    def __repr__(self) -> str:
        return f"<Deferral {'completed' if self._completed else 'pending'}>"

    def complete(self) -> None:
        """Let the validation go on (WinRT ``Complete``); once every deferral taken has
        completed, ``connect()`` goes on, or fails if the handler called ``reject()``.

        Raises:
            RuntimeError: this deferral was completed already.
        """
        if self._completed:
            raise RuntimeError("Deferral.complete() was already called: a deferral completes once")
        self._completed = True
        self._args._complete_one()

    def close(self) -> None:
        """Complete the deferral unless it is (WinRT ``Close``, from ``IClosable``)."""
        if not self._completed:
            self.complete()

    def __enter__(self) -> Deferral:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A handler that failed has not vouched for the server: refuse it.
        if exc_type is not None and not self._completed and not self._args._over:
            self._args._rejected = True
        self.close()


async def validate_server(
    channel: trio.MemorySendChannel[WebSocketServerCustomValidationRequestedEventArgs],
    args: WebSocketServerCustomValidationRequestedEventArgs,
    within: float,
    what: str,
) -> None:
    """Deliver *args* on *channel* (unbuffered) and wait for the handler's answer, at
    most *within* seconds in all.

    Raises:
        WebSocketStatusError: ``CERTIFICATE_IS_INVALID`` when the handler rejected the
            server or nobody can receive the event (its channel was closed), ``TIMEOUT``
            when nobody took it or a deferral did not complete in time.
        trio.ClosedResourceError: *channel* was closed meanwhile (the socket closed).

    Cancellation: the validation is over; the handler's later calls raise.
    """
    try:
        with trio.fail_after(within):
            try:
                await channel.send(args)
            except trio.BrokenResourceError:
                raise web_socket_error(
                    REJECTED,
                    f"{what}: server_custom_validation_requested was closed, so nobody can "
                    "validate the server certificate",
                ) from None
            # send() returned once the receiving task had the event, and it runs in the
            # same batch of the scheduler as this task or an earlier one: after two more
            # checkpoints the handler has run up to its first await, so a reject() or a
            # deferral taken there is seen. (A callback would need no such care, but the
            # events of every socket here are channels.)
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
            if args._deferrals:
                await args._done.wait()
    except trio.TooSlowError:
        taken = "a deferral did not complete" if args._deferrals else "nobody took the event"
        raise web_socket_error(
            WebErrorStatus.TIMEOUT,
            f"{what}: server_custom_validation_requested: {taken} within "
            f"control.handshake_timeout={within:g} s",
        ) from None
    finally:
        args._over = True
    if args._rejected:
        raise web_socket_error(
            REJECTED, f"{what}: the server certificate was rejected by the application"
        )

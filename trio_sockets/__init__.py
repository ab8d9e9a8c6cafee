"""The WinRT ``Windows.Networking.Sockets`` programming model on trio.

Everything public is importable from here; the modules holding the code are private.
They are loaded at the first use of a public name (:pep:`562`): the package's pytest
plugin, which pytest imports at every start in an environment where the package is
installed, then costs nothing to a suite that does not use its fixtures.
"""

# ruff: noqa: F405 - the names of __all__ come from _public (at first use, or for type checkers)
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._public import *  # noqa: F403
del TYPE_CHECKING

try:
    __version__ = _version("trio-sockets")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BandwidthStatistics",
    "ByteOrder",
    "Certificate",
    "ChainValidationResult",
    "DataReader",
    "DataWriter",
    "DatagramMessageChannel",
    "DatagramSocket",
    "DatagramSocketControl",
    "DatagramSocketInformation",
    "DatagramSocketMessageReceivedEventArgs",
    "Deferral",
    "EndpointPair",
    "HostName",
    "HostNameSortOptions",
    "HostNameType",
    "IgnorableErrors",
    "InputStream",
    "InputStreamOptions",
    "InsufficientDataError",
    "InvalidHostNameError",
    "MessageWebSocket",
    "MessageWebSocketControl",
    "MessageWebSocketInformation",
    "MessageWebSocketMessageReceivedEventArgs",
    "MessageWebSocketReceiveMode",
    "NoStreamError",
    "OutputStream",
    "Resolver",
    "RoundTripTimeStatistics",
    "ServerMessageWebSocket",
    "ServerMessageWebSocketControl",
    "ServerMessageWebSocketInformation",
    "ServerStreamWebSocket",
    "ServerStreamWebSocketControl",
    "ServerStreamWebSocketInformation",
    "ServiceTarget",
    "SocketError",
    "SocketErrorStatus",
    "SocketMessageType",
    "SocketOutputStream",
    "SocketProtectionLevel",
    "SocketQualityOfService",
    "SocketSslErrorSeverity",
    "SocketStatusError",
    "StreamSocket",
    "StreamSocketControl",
    "StreamSocketInformation",
    "StreamSocketListener",
    "StreamSocketListenerConnectionReceivedEventArgs",
    "StreamSocketListenerControl",
    "StreamSocketListenerInformation",
    "StreamWebSocket",
    "StreamWebSocketControl",
    "StreamWebSocketInformation",
    "UnicodeEncoding",
    "WebErrorStatus",
    "WebSocketClosedEventArgs",
    "WebSocketError",
    "WebSocketMessageChannel",
    "WebSocketRequest",
    "WebSocketServerCustomValidationRequestedEventArgs",
    "WebSocketStatusError",
    "WindowsOnlyError",
    "WriteOperation",
    "__version__",
]


def __getattr__(name: str) -> object:
    """A public name, loading them all at the first use of one."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _public

    globals().update((public, getattr(_public, public)) for public in _public.__all__)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

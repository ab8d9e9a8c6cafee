"""Every public name of the package, imported from the private modules that hold them.

:mod:`trio_sockets` loads this module at the first use of one of its names, so that
importing the package alone (as pytest does with its plugin, at every start) costs
nothing. Its ``__all__`` repeats the package's (less ``__version__``): a star import
gives type checkers only the names a module lists, and the package keeps its own list
literal for readers (tests/test_reference.py checks the two agree).
"""

from __future__ import annotations

from ._core.certificate import Certificate, IgnorableErrors
from ._core.endpoint import EndpointPair
from ._core.enums import (
    ByteOrder,
    ChainValidationResult,
    HostNameSortOptions,
    HostNameType,
    InputStreamOptions,
    MessageWebSocketReceiveMode,
    SocketMessageType,
    SocketProtectionLevel,
    SocketQualityOfService,
    SocketSslErrorSeverity,
    UnicodeEncoding,
)
from ._core.errors import SocketError, SocketErrorStatus, SocketStatusError, WindowsOnlyError
from ._core.hostname import HostName, InvalidHostNameError
from ._core.tcp_info import BandwidthStatistics, RoundTripTimeStatistics
from ._core.web_errors import WebErrorStatus, WebSocketError, WebSocketStatusError
from ._data.interfaces import InputStream, OutputStream, SocketOutputStream, WriteOperation
from ._data.reader import DataReader
from ._data.stream_owner import InsufficientDataError, NoStreamError
from ._data.writer import DataWriter
from ._io.datagram_channel import DatagramMessageChannel
from ._io.datagram_message import DatagramSocketMessageReceivedEventArgs
from ._io.resolver import Resolver, ServiceTarget
from ._sockets.datagram_control import DatagramSocketControl
from ._sockets.datagram_information import DatagramSocketInformation
from ._sockets.datagram_socket import DatagramSocket
from ._sockets.listener import StreamSocketListener
from ._sockets.listener_information import (
    StreamSocketListenerConnectionReceivedEventArgs,
    StreamSocketListenerInformation,
)
from ._sockets.stream_control import StreamSocketControl, StreamSocketListenerControl
from ._sockets.stream_information import StreamSocketInformation
from ._sockets.stream_socket import StreamSocket
from ._websockets.channel import WebSocketMessageChannel
from ._websockets.control import (
    MessageWebSocketControl,
    ServerMessageWebSocketControl,
    ServerStreamWebSocketControl,
    StreamWebSocketControl,
)
from ._websockets.events import (
    MessageWebSocketMessageReceivedEventArgs,
    WebSocketClosedEventArgs,
)
from ._websockets.information import (
    MessageWebSocketInformation,
    ServerMessageWebSocketInformation,
    ServerStreamWebSocketInformation,
    StreamWebSocketInformation,
)
from ._websockets.message_socket import MessageWebSocket, ServerMessageWebSocket
from ._websockets.server import WebSocketRequest
from ._websockets.stream_websocket import ServerStreamWebSocket, StreamWebSocket
from ._websockets.validation import Deferral, WebSocketServerCustomValidationRequestedEventArgs

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
]


def _claim_public_names() -> None:
    """Public classes report the package as their home, as trio's do."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("trio_sockets."):
            obj.__module__ = "trio_sockets"


_claim_public_names()
del _claim_public_names

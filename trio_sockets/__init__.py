"""The WinRT ``Windows.Networking.Sockets`` programming model on trio.

Everything public is importable from here; the modules holding the code are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._certificate import Certificate
from ._datagram_control import DatagramSocketControl
from ._datagram_events import DatagramSocketInformation, DatagramSocketMessageReceivedEventArgs
from ._datagram_socket import DatagramSocket
from ._datareader import DataReader, InsufficientDataError, NoStreamError
from ._datawriter import DataWriter
from ._enums import (
    ByteOrder,
    ChainValidationResult,
    HostNameSortOptions,
    HostNameType,
    InputStreamOptions,
    SocketProtectionLevel,
    SocketQualityOfService,
    SocketSslErrorSeverity,
    UnicodeEncoding,
)
from ._errors import SocketError, SocketErrorStatus, SocketStatusError, WindowsOnlyError
from ._hostname import EndpointPair, HostName, InvalidHostNameError
from ._listener import (
    StreamSocketListener,
    StreamSocketListenerConnectionReceivedEventArgs,
    StreamSocketListenerInformation,
)
from ._resolver import Resolver, ServiceTarget
from ._socket_options import StreamSocketControl, StreamSocketListenerControl
from ._stream_abc import InputStream, OutputStream
from ._stream_parts import StreamSocketInformation
from ._stream_socket import StreamSocket
from ._streams import WriteOperation
from ._tcp_info import BandwidthStatistics, RoundTripTimeStatistics

try:
    __version__ = version("trio-sockets")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BandwidthStatistics",
    "ByteOrder",
    "Certificate",
    "ChainValidationResult",
    "DataReader",
    "DataWriter",
    "DatagramSocket",
    "DatagramSocketControl",
    "DatagramSocketInformation",
    "DatagramSocketMessageReceivedEventArgs",
    "EndpointPair",
    "HostName",
    "HostNameSortOptions",
    "HostNameType",
    "InputStream",
    "InputStreamOptions",
    "InsufficientDataError",
    "InvalidHostNameError",
    "NoStreamError",
    "OutputStream",
    "Resolver",
    "RoundTripTimeStatistics",
    "ServiceTarget",
    "SocketError",
    "SocketErrorStatus",
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
    "UnicodeEncoding",
    "WindowsOnlyError",
    "WriteOperation",
    "__version__",
]


def _claim_public_names() -> None:
    """Public classes report the package as their home, as trio's do."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("trio_sockets."):
            obj.__module__ = "trio_sockets"


_claim_public_names()
del _claim_public_names

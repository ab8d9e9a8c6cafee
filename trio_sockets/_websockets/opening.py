"""What the protocol of one WebSocket connection takes from its control, frozen when
its opening handshake starts (:func:`~trio_sockets._websockets.control.opening_settings`
makes it)."""

from __future__ import annotations

import dataclasses

from websockets.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

__all__ = ["OpeningSettings"]


@dataclasses.dataclass(frozen=True)
class OpeningSettings:
    """What the protocol of one connection takes from the control, frozen when its
    opening handshake starts."""

    #: The largest message and the largest frame accepted, in bytes (the protocol's
    #: ``max_size``); ``None``: no limit.
    max_size: tuple[int | None, int | None]
    #: The permessage-deflate window offered or accepted; ``None``: no compression.
    deflate_window_bits: int | None

    def client_extensions(self) -> list[ClientExtensionFactory] | None:
        """The extensions a client offers."""
        bits = self.deflate_window_bits
        if bits is None:
            return None
        return [
            ClientPerMessageDeflateFactory(
                server_max_window_bits=None if bits == 15 else bits,
                client_max_window_bits=bits,
                compress_settings={"memLevel": 5},
            )
        ]

    def server_extensions(self) -> list[ServerExtensionFactory] | None:
        """The extensions a server accepts."""
        bits = self.deflate_window_bits
        if bits is None:
            return None
        return [
            ServerPerMessageDeflateFactory(
                server_max_window_bits=bits,
                client_max_window_bits=bits,
                compress_settings={"memLevel": 5},
            )
        ]

"""``ws_protocols``: the two sans-I/O WebSocket protocol libraries, side by side.

No sockets: a client and a server connection of each library are joined in memory, the
opening handshake runs once, and then the timed loop sends messages client → server
(masked, as a client must) and parses them on the server side, through each library's
public connection API, as the WebSocket classes would drive it:

* ``wsproto`` (``WSConnection``, ``Message`` events, ``PerMessageDeflate``);
* ``websockets`` (``websockets.client.ClientProtocol`` / ``websockets.server.ServerProtocol``,
  ``ClientPerMessageDeflateFactory``).

For each library it reports, in MB/s of payload and messages/s:

* ``encode``: building the frames of a client message (framing + masking);
* ``decode``: parsing them on the server (unmasking, UTF-8 check for text);
* ``mask``: the XOR masking primitive alone on 1 MiB;
* ``deflate``: encode + decode with permessage-deflate negotiated (compressible text).

Each for 100 B and 1 MiB messages. Run it on its own::

    python -m benchmarks.ws_protocols [--seconds 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any, Final

SIZES: Final = {"100 B": 100, "1 MiB": 1 << 20}


def _payloads(size: int) -> tuple[bytes, bytes]:
    """A random payload (incompressible) and a compressible text payload of *size* bytes."""
    random = os.urandom(size)
    text = (b"The quick brown fox jumps over the lazy dog, " * (size // 45 + 1))[:size]
    return random, text


# --- wsproto -------------------------------------------------------------------------


def _wsproto_pair(deflate: bool) -> tuple[Any, Any]:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    extensions = [PerMessageDeflate()] if deflate else []
    server.receive_data(client.send(Request(host="localhost", target="/", extensions=extensions)))
    for event in server.events():
        if isinstance(event, Request):
            server_extensions = [PerMessageDeflate()] if deflate else []
            client.receive_data(server.send(AcceptConnection(extensions=server_extensions)))
    for event in client.events():
        assert isinstance(event, AcceptConnection), event
    return client, server


def _wsproto_codec(
    deflate: bool, text: bool
) -> tuple[Callable[[bytes], bytes], Callable[[bytes], int]]:
    from wsproto.events import BytesMessage, Message, TextMessage

    client, server = _wsproto_pair(deflate)

    def encode(payload: bytes) -> bytes:
        data: str | bytes = payload.decode() if text else payload
        return client.send(Message(data=data))  # type: ignore[no-any-return]

    def decode(wire: bytes) -> int:
        server.receive_data(wire)
        got = 0
        for event in server.events():
            assert isinstance(event, (TextMessage, BytesMessage)), event
            got += len(event.data)
        return got

    return encode, decode


def _wsproto_mask() -> Callable[[bytes], bytes]:
    from wsproto.frame_protocol import XorMaskerSimple

    def mask(payload: bytes) -> bytes:
        return XorMaskerSimple(b"\x01\x02\x03\x04").process(payload)

    return mask


# --- websockets ----------------------------------------------------------------------


def _websockets_pair(deflate: bool) -> tuple[Any, Any]:
    from websockets.client import ClientProtocol
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )
    from websockets.http11 import Request, Response
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri

    client = ClientProtocol(
        parse_uri("ws://localhost/"),
        extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
        max_size=None,
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()] if deflate else None, max_size=None
    )
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    (request,) = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    client.receive_data(b"".join(server.data_to_send()))
    (response,) = client.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 101
    return client, server


def _websockets_codec(
    deflate: bool, text: bool
) -> tuple[Callable[[bytes], bytes], Callable[[bytes], int]]:
    client, server = _websockets_pair(deflate)

    def encode(payload: bytes) -> bytes:
        if text:
            client.send_text(payload)
        else:
            client.send_binary(payload)
        return b"".join(client.data_to_send())

    def decode(wire: bytes) -> int:
        server.receive_data(wire)
        got = 0
        for frame in server.events_received():
            got += len(frame.data)
        return got

    return encode, decode


def _websockets_mask() -> Callable[[bytes], bytes]:
    from websockets.frames import apply_mask

    def mask(payload: bytes) -> bytes:
        return apply_mask(payload, b"\x01\x02\x03\x04")

    return mask


LIBRARIES: Final = {
    "wsproto": (_wsproto_codec, _wsproto_mask),
    "websockets": (_websockets_codec, _websockets_mask),
}


# --- timing --------------------------------------------------------------------------


def _rate(step: Callable[[], int], seconds: float) -> tuple[float, float]:
    """(payload MB/s, calls/s) of *step* over about *seconds* (it returns bytes done)."""
    step()  # warm up (imports, caches, zlib state)
    calls = done = 0
    start = perf_counter()
    deadline = start + seconds
    while True:
        done += step()
        calls += 1
        now = perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    return done / elapsed / 1e6, calls / elapsed


def measure(seconds: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for library, (make_codec, make_mask) in LIBRARIES.items():
        for label, size in SIZES.items():
            random, text = _payloads(size)
            for case, deflate, payload, is_text in (
                ("binary", False, random, False),
                ("deflate", True, text, True),
            ):
                encode, decode = make_codec(deflate, is_text)
                wire = encode(payload)
                assert decode(wire) == size
                # Each encode advances the deflate context, so the decode pass parses
                # messages encoded in order on a fresh pair (the encoding is not timed).
                enc_rate = _rate(lambda e=encode, p=payload: len(p) if e(p) else 0, seconds)
                encode2, decode2 = make_codec(deflate, is_text)
                wires = [encode2(payload) for _ in range(_batch(size, seconds))]
                dec_rate = _decode_rate(decode2, wires)
                rows.append(
                    {
                        "library": library,
                        "case": case,
                        "size": label,
                        "wire_bytes": len(wire),
                        "encode_MBps": enc_rate[0],
                        "encode_msgps": enc_rate[1],
                        "decode_MBps": dec_rate[0],
                        "decode_msgps": dec_rate[1],
                    }
                )
            mask = make_mask()
            rate = _rate(lambda m=mask, p=random: len(m(p)), seconds)
            rows.append({"library": library, "case": "mask", "size": label, "mask_MBps": rate[0]})
    return rows


def _batch(size: int, seconds: float) -> int:
    # Enough pre-encoded messages for a decode pass of roughly *seconds*, bounded in memory.
    return max(20, min(20_000, int(seconds * 2e8 / max(size, 1_000))))


def _decode_rate(decode: Callable[[bytes], int], wires: list[bytes]) -> tuple[float, float]:
    """(payload MB/s, messages/s) of parsing *wires* in order.

    Each wire message is parsed once: with deflate the decoder's context must stay in
    step with the encoder's, so bytes are never replayed.
    """
    decode(wires[0])  # warm up
    done = 0
    start = perf_counter()
    for wire in wires[1:]:
        done += decode(wire)
    elapsed = perf_counter() - start
    return done / elapsed / 1e6, (len(wires) - 1) / elapsed


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    from websockets import speedups  # noqa: F401 -- the C masking must be present

    return {name: version(name) for name in ("wsproto", "websockets")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)
    versions = _versions()
    rows = measure(args.seconds)
    if args.json:
        json.dump({"versions": versions, "rows": rows}, sys.stdout, indent=1)
        print()
        return 0
    print(
        " ".join(f"{name} {v}" for name, v in versions.items()), f"python {sys.version.split()[0]}"
    )
    print(
        f"{'library':<11}{'case':<9}{'size':<7}{'encode MB/s':>13}{'msg/s':>11}"
        f"{'decode MB/s':>13}{'msg/s':>11}"
    )
    for row in rows:
        if row["case"] == "mask":
            print(f"{row['library']:<11}{'mask':<9}{row['size']:<7}{row['mask_MBps']:>13.1f}")
            continue
        print(
            f"{row['library']:<11}{row['case']:<9}{row['size']:<7}"
            f"{row['encode_MBps']:>13.1f}{row['encode_msgps']:>11.0f}"
            f"{row['decode_MBps']:>13.1f}{row['decode_msgps']:>11.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Connection statistics from Linux ``TCP_INFO`` (pure parsing, no I/O).

WinRT fills ``RoundTripTimeStatistics`` and ``BandwidthStatistics`` from Windows'
extended TCP statistics and leaves them zero where those are off. Here they come from
Linux ``struct tcp_info``; on other systems, or where the kernel returns a shorter
structure than a field needs, the fields read zero, which is WinRT's documented fallback.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

__all__ = ["BandwidthStatistics", "RoundTripTimeStatistics", "TcpInfo", "parse_tcp_info"]

# Byte offsets in Linux's struct tcp_info (native order, no padding): eight u8 fields,
# 24 u32 (rtt is the 16th), four u64, six u32 (min_rtt is the 4th), then delivery_rate.
_OFFSETS: Final = {
    "bits": 7,  # u8 holding tcpi_delivery_rate_app_limited in its lowest bit
    "rtt": 8 + 4 * 15,
    "rttvar": 8 + 4 * 16,
    "rcv_rtt": 8 + 4 * 21,
    "rcv_space": 8 + 4 * 22,
    "bytes_acked": 8 + 4 * 24 + 8 * 2,
    "bytes_received": 8 + 4 * 24 + 8 * 3,
    "min_rtt": 8 + 4 * 24 + 8 * 4 + 4 * 3,
    "delivery_rate": 8 + 4 * 24 + 8 * 4 + 4 * 6,
}
#: The ``getsockopt`` buffer size to ask for.
TCP_INFO_SIZE: Final = 512


class RoundTripTimeStatistics(NamedTuple):
    """Round-trip times in microseconds (WinRT ``RoundTripTimeStatistics``).

    ``sum`` is, as in WinRT despite its name, the smoothed round-trip time. Linux keeps
    no maximum, so ``max`` is the largest smoothed value this socket has sampled (each
    read of ``information.round_trip_time_statistics`` takes a sample).
    """

    variance: int = 0
    max: int = 0
    min: int = 0
    sum: int = 0


class BandwidthStatistics(NamedTuple):
    """Bandwidth estimates in bits per second (WinRT ``BandwidthStatistics``).

    ``outbound_bits_per_second`` is the kernel's delivery-rate estimate;
    ``inbound_bits_per_second`` is the receive window the kernel has grown to, per
    receive round trip. Linux has no instability measure, so those fields are 0.
    ``outbound_bandwidth_peaked`` is true when the last delivery-rate sample was not
    limited by the application (it had enough data in flight to measure the path).
    """

    outbound_bits_per_second: int = 0
    inbound_bits_per_second: int = 0
    outbound_bits_per_second_instability: int = 0
    inbound_bits_per_second_instability: int = 0
    outbound_bandwidth_peaked: bool = False
    inbound_bandwidth_peaked: bool = False


class TcpInfo(NamedTuple):
    """The ``tcp_info`` fields the statistics use; 0 where the kernel gave fewer bytes."""

    rtt_us: int = 0
    rttvar_us: int = 0
    min_rtt_us: int = 0
    rcv_rtt_us: int = 0
    rcv_space: int = 0
    delivery_rate: int = 0  # bytes per second
    app_limited: bool = False
    bytes_acked: int = 0
    bytes_received: int = 0


def _field(raw: bytes, name: str, fmt: str) -> int:
    offset = _OFFSETS[name]
    size = struct.calcsize("=" + fmt)
    if len(raw) < offset + size:
        return 0
    value: int = struct.unpack_from("=" + fmt, raw, offset)[0]
    return value


def parse_tcp_info(raw: bytes) -> TcpInfo:
    """Decode as much of a ``TCP_INFO`` buffer as the kernel filled in."""
    if not raw:
        return TcpInfo()
    return TcpInfo(
        rtt_us=_field(raw, "rtt", "I"),
        rttvar_us=_field(raw, "rttvar", "I"),
        min_rtt_us=_field(raw, "min_rtt", "I"),
        rcv_rtt_us=_field(raw, "rcv_rtt", "I"),
        rcv_space=_field(raw, "rcv_space", "I"),
        delivery_rate=_field(raw, "delivery_rate", "Q"),
        app_limited=bool(_field(raw, "bits", "B") & 1),
        bytes_acked=_field(raw, "bytes_acked", "Q"),
        bytes_received=_field(raw, "bytes_received", "Q"),
    )


def round_trip_time_statistics(info: TcpInfo, previous_max: int) -> RoundTripTimeStatistics:
    """Statistics from one sample; *previous_max* carries the running maximum."""
    return RoundTripTimeStatistics(
        variance=info.rttvar_us,
        max=max(previous_max, info.rtt_us),
        min=info.min_rtt_us if info.min_rtt_us != 0xFFFFFFFF else 0,
        sum=info.rtt_us,
    )


def bandwidth_statistics(info: TcpInfo) -> BandwidthStatistics:
    """Bandwidth estimates from one sample."""
    inbound = info.rcv_space * 8 * 1_000_000 // info.rcv_rtt_us if info.rcv_rtt_us else 0
    return BandwidthStatistics(
        outbound_bits_per_second=info.delivery_rate * 8,
        inbound_bits_per_second=inbound,
        outbound_bandwidth_peaked=info.delivery_rate > 0 and not info.app_limited,
    )

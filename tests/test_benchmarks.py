"""A small run of every benchmark: each workload on each implementation gives right results.

Correctness only (bytes echoed, counts acknowledged, connections held); the timings of
these tiny runs mean nothing and are not checked. An implementation whose packages are
missing (anyio, uvloop, trio-websocket) is skipped.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level package of the checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import instructions, report  # noqa: E402
from benchmarks.common import Params, Sample  # noqa: E402
from benchmarks.run import count_send_calls, measure, parse_strace_summary  # noqa: E402
from benchmarks.workloads import BY_NAME, IMPLEMENTATIONS, WORKLOADS, available, load  # noqa: E402

SMOKE_CASES = [
    pytest.param(impl, workload.name, id=f"{impl}-{workload.name}")
    for workload in WORKLOADS
    if workload.name != "udp_flood"
    for impl in IMPLEMENTATIONS
    if workload.runs_on(impl)
]


def require(impl: str) -> None:
    if not available(impl):
        pytest.skip(f"{impl}: its packages are not installed (the bench extra)")


def check_sample(workload: str, params: Params, sample: Sample) -> None:
    """The counts a run reports match its parameters."""
    assert sample["seconds"] > 0
    if workload in ("tcp_bulk", "ws_bulk"):
        assert sample["bytes"] == params.count * params.size
    elif workload.startswith("tcp_pingpong"):
        assert sample["round_trips"] == params.count * params.conns
    elif workload.startswith("udp_echo"):
        assert sample["datagrams"] == params.count
    elif workload.startswith("small_writes"):
        assert sample["writes"] == params.count
    elif workload.startswith(("tcp_framed", "ws_echo")):
        assert sample["messages"] == params.count
    elif workload.startswith("tcp_conns"):
        assert sample["connections"] == params.count
        assert sample["rss_kib"] >= 0
    else:  # pragma: no cover - a new workload needs its check here
        raise AssertionError(f"no check for {workload}")


@pytest.mark.parametrize(("impl", "workload"), SMOKE_CASES)
def test_each_workload_runs_correctly_in_process(impl: str, workload: str) -> None:
    require(impl)
    params = BY_NAME[workload].params("smoke")
    # Each client checks what it received and raises BenchmarkError on a mismatch.
    sample = load(impl).run(workload, params, None)
    check_sample(workload, params, sample)


XPROC_CASES = [
    *(
        pytest.param(impl, workload, id=f"{impl}-{workload}")
        for impl in IMPLEMENTATIONS
        for workload in [
            "tcp_pingpong_c50",
            "udp_echo_w64",
            "small_writes_batched",
            "ws_echo_w64",
        ]
        if BY_NAME[workload].runs_on(impl)
    ),
    # The framed server of every stack is the in-process one; once through "serve" for
    # the library whose framing is measured.
    pytest.param("trio_sockets", "tcp_framed_w64", id="trio_sockets-tcp_framed_w64"),
    pytest.param("trio_sockets", "ws_bulk", id="trio_sockets-ws_bulk"),
]


def test_websocket_workloads_run_on_the_websocket_stacks_only() -> None:
    socket_impls = {impl for impl in IMPLEMENTATIONS if BY_NAME["tcp_bulk"].runs_on(impl)}
    assert socket_impls == {
        "trio_sockets",
        "trio_sockets_trio_calls",
        "trio",
        "anyio_trio",
        "anyio_asyncio",
        "asyncio",
        "uvloop",
    }
    for name in ("ws_echo_lockstep", "ws_echo_w64", "ws_bulk"):
        assert {impl for impl in IMPLEMENTATIONS if BY_NAME[name].runs_on(impl)} == {
            "trio_sockets",
            "trio_websocket",
            "websockets_trio",
            "websockets_asyncio",
            "websockets_uvloop",
        }


@pytest.mark.parametrize(("impl", "workload"), XPROC_CASES)
def test_a_measurement_with_the_server_in_another_process(impl: str, workload: str) -> None:
    require(impl)
    params = BY_NAME[workload].params("smoke")
    result = measure(impl, BY_NAME[workload], "xproc", params)
    assert result.get("error") is None, result
    check_sample(workload, params, result["sample"])


def test_udp_flood_accounts_for_every_datagram() -> None:
    workload = BY_NAME["udp_flood"]
    result = measure("trio_sockets", workload, "xproc", workload.params("smoke"))
    assert result.get("error") is None, result
    steps = result["sample"]["steps"]
    assert [step["target"] for step in steps[:3]] == [5000, 7100, 10000]
    for step in steps:
        # Whatever the socket took from the kernel was delivered or counted as dropped.
        assert step["consumed"] + step["dropped"] == step["received"]
        assert step["received"] + step["kernel_lost"] == step["sent"]
    # 5,000 datagrams/s is far below what any machine receives: nothing may be lost.
    assert steps[0]["exact"]
    assert steps[0]["consumed"] == steps[0]["sent"] == 1000
    assert result["sample"]["rate"] >= steps[0]["offered"]


def test_strace_counts_the_send_calls_of_small_writes() -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (Debian package strace)")
    each = count_send_calls("trio_sockets", BY_NAME["small_writes_each"], Params(300, 64))
    batched = count_send_calls("trio_sockets", BY_NAME["small_writes_batched"], Params(300, 64))
    assert each["calls"] == 300, each
    assert 1 <= batched["calls"] <= 20, batched


def test_strace_summary_parsing() -> None:
    summary = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 90.00    0.000900          90        10           sendmsg
 10.00    0.000100          50         2         1 write
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000          83        12         1 total
"""
    assert parse_strace_summary(summary) == {"sendmsg": 10, "write": 2}


def _fake_results() -> dict[str, Any]:
    samples = []
    for repetition, scale in enumerate([1.0, 1.1, 0.9]):
        for impl, speed in [
            ("trio_sockets", 2.0),
            ("trio_sockets_trio_calls", 1.5),
            ("trio", 1.0),
            ("uvloop", 4.0),
        ]:
            samples.append(
                {
                    "impl": impl,
                    "workload": "tcp_bulk",
                    "placement": "xproc",
                    "repetition": repetition,
                    "sample": {"seconds": 1.0 / (speed * scale), "bytes": 2**20},
                    "error": None,
                }
            )
            samples.append(
                {
                    "impl": impl,
                    "workload": "tcp_pingpong_c1",
                    "placement": "inproc",
                    "repetition": repetition,
                    "sample": {"seconds": 1.0 / (speed * scale), "round_trips": 10_000},
                    "error": None,
                }
            )
            samples.append(
                {
                    "impl": impl,
                    "workload": "tcp_conns_1000",
                    "placement": "inproc",
                    "repetition": repetition,
                    "sample": {"seconds": 0.1 * speed, "connections": 1000, "rss_kib": 8000},
                    "error": None,
                }
            )
    samples.append({**samples[0], "impl": "asyncio", "sample": None, "error": "exit 1: boom"})
    return {
        "meta": {
            "date": "2026-01-01 00:00 UTC",
            "mode": "quick",
            "repetitions": 3,
            "machine": "2 CPUs",
            "python": "3.11.7",
            "versions": {"trio": "0.35.0"},
            "load_start": 0.5,
            "load_end": 0.7,
            "pinned": True,
        },
        "samples": samples,
        "syscalls": [
            {"impl": "trio", "workload": "small_writes_batched", "calls": 1, "by_name": {"x": 1}}
        ],
    }


def test_the_report_shows_medians_ratios_and_spread(tmp_path: Path) -> None:
    results = json.loads(json.dumps(_fake_results()))
    (row,) = [row for row in report.rows(results) if row[0].name == "tcp_pingpong_c1"]
    assert report.median(results, row, "trio_sockets") == pytest.approx(20_000)
    assert report.ratio(results, row, "uvloop") == pytest.approx(4.0)
    assert math.isnan(report.ratio(results, row, "asyncio"))
    text = report.rst(results, "_static/performance.png")
    assert "20,000 (2.00×)" in text  # noqa: RUF001
    assert "- trio_sockets (trio calls)" in text
    assert "18,000–22,000" in text  # noqa: RUF001
    assert "1 measurement(s) failed" in text
    # The system-call table has a column for each implementation that was counted.
    counted = text[text.index("Send-family") :].split(".. figure::")[0]
    assert "- trio\n" in counted
    assert "uvloop" not in counted
    assert ".. figure:: _static/performance.png" in text
    pytest.importorskip("matplotlib")
    report.chart(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_the_targets_are_met_or_missed_by_the_numbers_of_the_run() -> None:
    results = json.loads(json.dumps(_fake_results()))
    found = {
        (verdict.row[0].name, verdict.row[1], verdict.row[2].key): verdict
        for verdict in report.verdicts(results)
    }
    # Only the targets of rows that were measured.
    assert set(found) == {
        ("tcp_bulk", "xproc", "mib_s"),
        ("tcp_pingpong_c1", "inproc", "rt_s"),
        ("tcp_conns_1000", "inproc", "ms"),
        ("tcp_conns_1000", "inproc", "kib_conn"),
    }
    pingpong = found["tcp_pingpong_c1", "inproc", "rt_s"]
    assert pingpong.ratio == pytest.approx(2.0)
    assert pingpong.met is True
    # Twice raw trio's time is above the bound of 1.1x: lower is better there.
    connect = found["tcp_conns_1000", "inproc", "ms"]
    assert connect.ratio == pytest.approx(2.0)
    assert connect.met is False
    assert found["tcp_conns_1000", "inproc", "kib_conn"].met is True
    # 2x raw trio is not enough when a peer (uvloop, 4x) is faster; the trio-calls line
    # of the library itself is no peer.
    bulk = found["tcp_bulk", "xproc", "mib_s"]
    assert bulk.met is False
    assert bulk.best_peer is not None
    assert bulk.best_peer[0] == "uvloop"
    text = report.rst(results, None)
    assert "Targets: trio_sockets written with the tutorial's WinRT calls" in text
    assert "(2 of 4 met)" in text
    assert "**missed**" in text
    assert "≥ 1.0× and ≥ the best peer" in text  # noqa: RUF001
    assert "2.00×; best peer uvloop 4.00×" in text  # noqa: RUF001


@contextlib.contextmanager
def _chart(results: dict[str, Any]) -> Iterator[Any]:
    """The report's figure of *results* (after a JSON round trip, as the run writes
    them), closed afterwards."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fig = report.figure(json.loads(json.dumps(results)))
    try:
        yield fig
    finally:
        plt.close(fig)


def test_the_chart_shows_the_winrt_line_and_says_which_way_is_better() -> None:
    with _chart(_fake_results()) as fig:
        labels = [axis.get_xlabel() for axis in fig.axes]
        assert labels == [
            "MiB/s ÷ raw trio's: higher is better",
            "round trips/s ÷ raw trio's: higher is better",
            "connect time ÷ raw trio's: lower is better",
            "peak RSS / connection ÷ raw trio's: lower is better",
        ]
        (legend,) = fig.legends
        shown = [entry.get_text() for entry in legend.get_texts()]
        assert shown == ["trio_sockets", "trio", "asyncio", "uvloop"]


def test_ws_protocols_benchmark_measures_both_libraries() -> None:
    from benchmarks import ws_protocols

    rows = ws_protocols.measure(0.01)
    seen = {(row["library"], row["case"], row["size"]) for row in rows}
    assert seen == {
        (library, case, size)
        for library in ("wsproto", "websockets")
        for case in ("binary", "deflate", "mask")
        for size in ("100 B", "1 MiB")
    }
    for row in rows:
        rates = [value for key, value in row.items() if key.endswith("ps")]
        assert rates, row
        assert all(rate > 0 for rate in rates), row
    deflated = {r["size"]: r["wire_bytes"] for r in rows if r["case"] == "deflate"}
    assert deflated["1 MiB"] < (1 << 20) // 10  # the compressible text really was deflated


def _fake_websocket_results() -> dict[str, Any]:
    """The WebSocket echo on every WebSocket stack: trio_sockets at 3, the fastest of
    the reference peers (websockets on asyncio) at 4, websockets on uvloop at 8."""
    results = _fake_results()
    samples = []
    for repetition, scale in enumerate([1.0, 1.1, 0.9]):
        for impl, speed in [
            ("trio_sockets", 3.0),
            ("trio_websocket", 1.0),
            ("websockets_trio", 2.0),
            ("websockets_asyncio", 4.0),
            ("websockets_uvloop", 8.0),
        ]:
            samples.append(
                {
                    "impl": impl,
                    "workload": "ws_echo_lockstep",
                    "placement": "inproc",
                    "repetition": repetition,
                    "sample": {"seconds": 1.0 / (speed * scale), "messages": 1000},
                    "error": None,
                }
            )
    results["samples"] = [s for s in results["samples"] if s["impl"] != "asyncio"] + samples
    return results


def test_a_target_is_not_judged_from_the_repetitions_that_happened_to_succeed() -> None:
    # Two of trio_sockets' three ping-pong repetitions fail (a lost datagram, a wrong
    # echo): the one left would read 2x and "met". Raw trio failing is as bad (its
    # median would rest on the repetitions left), a peer failing is not.
    results = json.loads(json.dumps(_fake_results()))
    for sample in results["samples"]:
        where = (sample["workload"], sample["impl"], sample["repetition"])
        if where[0] == "tcp_pingpong_c1" and where[1] in ("trio_sockets", "uvloop") and where[2]:
            sample.update(sample=None, error="BenchmarkError: the echo differs")
        if where == ("tcp_conns_1000", "trio", 0):
            sample.update(sample=None, error="timeout")
    found = {
        (verdict.row[0].name, verdict.row[2].key): verdict for verdict in report.verdicts(results)
    }
    pingpong = found["tcp_pingpong_c1", "rt_s"]
    assert pingpong.met is None
    assert pingpong.verdict_text() == "not measured: trio_sockets failed 2 of 3"
    assert found["tcp_conns_1000", "ms"].met is None
    assert found["tcp_conns_1000", "ms"].verdict_text() == "not measured: trio failed 1 of 3"
    assert found["tcp_conns_1000", "kib_conn"].met is None
    # asyncio's failure decides nothing about bulk (missed: uvloop is faster).
    assert (found["tcp_bulk", "mib_s"].failures, found["tcp_bulk", "mib_s"].met) == ((), False)
    text = report.rst(results, None)
    assert "not measured: trio_sockets failed 2 of 3" in text
    assert "(0 of 4 met)" in text


def test_websocket_rows_compare_with_the_fastest_websocket_peer() -> None:
    results = json.loads(json.dumps(_fake_websocket_results()))
    (row,) = [row for row in report.rows(results) if row[0].name == "ws_echo_lockstep"]
    # The reference is websockets on asyncio (the fastest of trio-websocket and both
    # implementations of websockets), not raw trio, which has no WebSocket; uvloop is
    # shown against the same reference.
    assert report.reference_median(results, row) == pytest.approx(4000)
    assert report.ratio(results, row, "trio_sockets") == pytest.approx(0.75)
    assert report.ratio(results, row, "websockets_uvloop") == pytest.approx(2.0)
    (verdict,) = [v for v in report.verdicts(results) if v.row[0].name == "ws_echo_lockstep"]
    assert verdict.ratio == pytest.approx(0.75)
    assert verdict.met is False
    text = report.rst(results, None)
    assert "3,000 (0.75×)" in text  # noqa: RUF001
    assert "- websockets (uvloop)" in text
    assert "0.75× of websockets (asyncio)" in text  # noqa: RUF001
    # The socket rows still divide by raw trio.
    (pingpong,) = [row for row in report.rows(results) if row[0].name == "tcp_pingpong_c1"]
    assert report.ratio(results, pingpong, "trio_sockets") == pytest.approx(2.0)


def test_the_chart_has_a_websocket_panel_against_the_fastest_peer() -> None:
    with _chart(_fake_websocket_results()) as fig:
        labels = [axis.get_xlabel() for axis in fig.axes]
        assert labels == [
            "MiB/s ÷ raw trio's: higher is better",
            "round trips/s ÷ raw trio's: higher is better",
            "connect time ÷ raw trio's: lower is better",
            "peak RSS / connection ÷ raw trio's: lower is better",
            "messages/s ÷ the fastest peer's: higher is better",
        ]


@pytest.mark.parametrize("kind", list(instructions.KINDS))
def test_each_instruction_count_workload_runs(kind: str) -> None:
    # What cachegrind counts must run as written (a few round trips, no valgrind).
    instructions.run(kind, 20)


def test_the_instruction_counter_refuses_an_unknown_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        instructions.main(["pingpong", "x" * 200])
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert "unknown kind 'xxxxxxxx" in error
    assert "choose from pingpong, pingpong_trio_calls" in error
    assert "x" * 81 not in error

"""Turn a results file into the documentation's table (reStructuredText) and bar chart."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.workloads import (
    BY_NAME,
    FASTEST_PEER,
    IMPLEMENTATIONS,
    OWN_LINES,
    SUBJECT,
    TARGETS,
    WEBSOCKET_PEERS,
    Metric,
    Target,
    Workload,
    label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Results = dict[str, Any]
Row = tuple[Workload, str, Metric]
#: Lines the chart leaves out (they are in the tables): the chart shows what users write.
CHART_LEFT_OUT = ("trio_sockets_trio_calls",)


def fmt(value: float, decimals: int | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    if decimals is not None and value < 1000:
        return f"{value:,.{decimals}f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def implementations(results: Results) -> list[str]:
    present = {sample["impl"] for sample in results["samples"]}
    return [name for name in IMPLEMENTATIONS if name in present]


def rows(results: Results) -> list[Row]:
    seen: list[tuple[str, str]] = []
    for sample in results["samples"]:
        key = (sample["workload"], sample["placement"])
        if key not in seen:
            seen.append(key)
    order = {name: index for index, name in enumerate(BY_NAME)}
    seen.sort(key=lambda key: (order[key[0]], key[1]))
    return [
        (BY_NAME[name], placement, metric)
        for name, placement in seen
        for metric in BY_NAME[name].metrics
    ]


def values(results: Results, row: Row, impl: str) -> list[float]:
    workload, placement, metric = row
    out = []
    for sample in results["samples"]:
        if (
            sample["impl"] == impl
            and sample["workload"] == workload.name
            and sample["placement"] == placement
            and sample.get("error") is None
        ):
            out.append(metric.compute(sample["sample"]))
    return out


def failed(results: Results, row: Row, impl: str) -> tuple[int, int]:
    """How many repetitions of *row* by *impl* failed, and how many were made."""
    workload, placement, _ = row
    made = [
        sample
        for sample in results["samples"]
        if sample["impl"] == impl
        and sample["workload"] == workload.name
        and sample["placement"] == placement
    ]
    return sum(1 for sample in made if sample.get("error") is not None), len(made)


def median(results: Results, row: Row, impl: str) -> float:
    found = values(results, row, impl)
    return statistics.median(found) if found else math.nan


def fastest_peer(
    results: Results, row: Row, among: Sequence[str] | None = None
) -> tuple[str, float] | None:
    """The peer (of *among*, or any implementation but trio_sockets' own lines) with the
    best median of *row*, and that median; None if no peer was measured."""
    metric = row[2]
    peers = [
        (impl, median(results, row, impl))
        for impl in implementations(results)
        if impl not in OWN_LINES and (among is None or impl in among)
    ]
    peers = [(impl, value) for impl, value in peers if not math.isnan(value)]
    if not peers:
        return None
    pick = max if metric.higher_is_better else min
    return pick(peers, key=lambda peer: peer[1])


def reference_median(results: Results, row: Row) -> float:
    """The median the ratios of *row* divide by: raw trio's, or for a WebSocket workload
    the fastest of :data:`WEBSOCKET_PEERS`."""
    if row[0].reference == FASTEST_PEER:
        best = fastest_peer(results, row, WEBSOCKET_PEERS)
        return math.nan if best is None else best[1]
    return median(results, row, row[0].reference)


def reference_text(workload: Workload) -> str:
    return "the fastest peer's" if workload.reference == FASTEST_PEER else "raw trio's"


def ratio(results: Results, row: Row, impl: str) -> float:
    """The median divided by the row's reference median (same metric, same run): raw
    trio's, or for a WebSocket workload the fastest peer's."""
    reference = reference_median(results, row)
    mine = median(results, row, impl)
    if math.isnan(reference) or math.isnan(mine) or reference == 0:
        return math.nan
    return mine / reference


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One target checked against one row of a run."""

    target: Target
    row: Row
    #: :data:`SUBJECT`'s median divided by the row's reference (NaN: one of them not
    #: measured).
    ratio: float
    #: The best peer and its median, for a target that asks for the best peer.
    best_peer: tuple[str, float] | None
    #: True met, False missed, None not measured (or some repetitions failed).
    met: bool | None
    #: The implementations the verdict rests on whose repetitions failed, with their
    #: failed and made counts: a verdict from the repetitions that happened to succeed
    #: is no verdict (a lost datagram fails one, and the others may be the fast ones).
    failures: tuple[tuple[str, int, int], ...] = ()

    def bound_text(self) -> str:
        sign = "≥" if self.row[2].higher_is_better else "≤"
        text = f"{sign} {self.target.bound:.1f}×"  # noqa: RUF001
        return text + (" and ≥ the best peer" if self.target.best_peer else "")

    def verdict_text(self) -> str:
        if self.failures:
            return "not measured: " + ", ".join(
                f"{label(impl)} failed {bad} of {made}" for impl, bad, made in self.failures
            )
        if self.met is None:
            return "not measured"
        return "met" if self.met else "missed"


def _better_or_equal(metric: Metric, mine: float, other: float) -> bool:
    return mine >= other if metric.higher_is_better else mine <= other


def verdicts(results: Results) -> list[Verdict]:
    """Every target against every placement of its workload in *results*, in table order."""
    found = []
    for row in rows(results):
        workload, _, metric = row
        for target in TARGETS:
            if target.workload != workload.name or target.metric != metric.key:
                continue
            share = ratio(results, row, SUBJECT)
            met: bool | None = None
            if not math.isnan(share):
                met = _better_or_equal(metric, share, target.bound)
            best: tuple[str, float] | None = None
            if target.best_peer:
                best = fastest_peer(results, row)
                if best is not None and met is not None:
                    mine = median(results, row, SUBJECT)
                    met = met and _better_or_equal(metric, mine, best[1])
            decisive = [SUBJECT]
            if workload.reference == FASTEST_PEER:
                decisive += WEBSOCKET_PEERS
            else:
                decisive.append(workload.reference)
            failures = tuple(
                (impl, *counts) for impl in decisive if (counts := failed(results, row, impl))[0]
            )
            if failures:
                met = None
            found.append(Verdict(target, row, share, best, met, failures))
    return found


def _targets_table(results: Results) -> list[str]:
    checked = verdicts(results)
    if not checked:
        return []
    impls = implementations(results)
    second = "trio_sockets_trio_calls" if "trio_sockets_trio_calls" in impls else None

    def ratio_text(value: float) -> str:
        return "—" if math.isnan(value) else f"{value:.2f}×"  # noqa: RUF001

    body = []
    for verdict in checked:
        shown = ratio_text(verdict.ratio)
        if verdict.row[0].reference == FASTEST_PEER:
            fastest = fastest_peer(results, verdict.row, WEBSOCKET_PEERS)
            if fastest is not None:
                shown += f" of {label(fastest[0])}"
        if verdict.best_peer is not None:
            name = verdict.best_peer[0]
            shown += f"; best peer {label(name)} {ratio_text(ratio(results, verdict.row, name))}"
        cells = [*_label(verdict.row), verdict.bound_text(), shown]
        if second:
            cells.append(ratio_text(ratio(results, verdict.row, second)))
        verdict_text = verdict.verdict_text()
        cells.append(f"**{verdict_text}**" if verdict.met is False else verdict_text)
        body.append(cells)
    header = ["workload", "placement", "metric", "target", label(SUBJECT)]
    if second:
        header.append(label(second))
    header.append("result")
    met = sum(1 for verdict in checked if verdict.met)
    return _list_table(
        f"Targets: {label(SUBJECT)} written with the tutorial's WinRT calls, its median "
        f"divided by raw trio's in the same run (for the ``ws_*`` workloads, by the "
        f"fastest WebSocket peer's) ({met} of {len(checked)} met)",
        header,
        body,
    )


def _list_table(title: str, header: Sequence[str], body: Iterable[Sequence[str]]) -> list[str]:
    # The class sets the tables in smaller type (docs/_static/trio_sockets.css).
    lines = [f".. list-table:: {title}", "   :header-rows: 1", "   :class: benchmark-results", ""]
    for cells in [header, *body]:
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {cell}" for cell in cells[1:])
    lines.append("")
    return lines


def _label(row: Row) -> list[str]:
    workload, placement, metric = row
    arrow = "↑" if metric.higher_is_better else "↓"
    return [f"``{workload.name}``", placement, f"{metric.label} {arrow}"]


def rst(results: Results, chart: str | None) -> str:
    meta = results["meta"]
    impls = implementations(results)
    table_rows = rows(results)
    lines = [
        ".. This file is generated by ``python -m benchmarks`` (``make bench``).",
        "   Do not edit it by hand: run the benchmarks again.",
        "",
        f"Run of {meta['date']} in **{meta['mode']}** mode: {meta['repetitions']} "
        f"repetitions of each measurement, {meta['machine']}, Python {meta['python']}, "
        + ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
        + f". Load average (1 min) {meta['load_start']:.2f} just before the run and "
        f"{meta['load_end']:.2f} at its end (the run itself adds about 1); "
        + (
            "the measuring process was pinned to CPU 0 and the server process to CPU 1."
            if meta["pinned"]
            else "the processes were not pinned to CPUs."
        ),
        "",
    ]
    cpus = meta.get("cpus")
    # The run itself keeps about one CPU busy: only the load before it says whether
    # other work shared the machine.
    if cpus and meta["load_start"] >= cpus / 2:
        lines += [
            f"The load average before the run shows that the machine's {cpus} CPUs were "
            "not idle: the absolute numbers are lower and noisier than on a quiet "
            "machine, and the ratios, taken from the same interleaved repetitions, are "
            "the figures to compare.",
            "",
        ]
    header = ["workload", "placement", "metric", *(label(impl) for impl in impls)]

    def cell(row: Row, impl: str) -> str:
        found = values(results, row, impl)
        if not found:
            return "—"
        text = fmt(statistics.median(found), row[2].decimals)
        if impl != row[0].reference and not math.isnan(ratio(results, row, impl)):
            text += f" ({ratio(results, row, impl):.2f}×)"  # noqa: RUF001
        return text

    lines += _list_table(
        "Medians, and in parentheses the ratio to raw trio's median in the same run (for "
        "the ``ws_*`` workloads, to the fastest WebSocket peer's)",
        header,
        ([*_label(row), *(cell(row, impl) for impl in impls)] for row in table_rows),
    )

    lines += _targets_table(results)

    def spread(row: Row, impl: str) -> str:
        found = values(results, row, impl)
        if not found:
            return "—"
        decimals = row[2].decimals
        return f"{fmt(min(found), decimals)}–{fmt(max(found), decimals)}"  # noqa: RUF001

    lines += _list_table(
        "Spread: the lowest and highest of the same repetitions",
        header,
        ([*_label(row), *(spread(row, impl) for impl in impls)] for row in table_rows),
    )
    syscalls = results.get("syscalls") or []
    if syscalls:
        names = sorted({entry["workload"] for entry in syscalls}, key=list(BY_NAME).index)
        counted = [impl for impl in impls if any(entry["impl"] == impl for entry in syscalls)]

        def count(workload: str, impl: str) -> str:
            for entry in syscalls:
                if entry["workload"] == workload and entry["impl"] == impl:
                    if entry.get("error"):
                        return "failed"
                    detail = ", ".join(
                        f"{name} {calls}" for name, calls in sorted(entry["by_name"].items())
                    )
                    return f"**{entry['calls']}**" + (f" ({detail})" if detail else "")
            return "—"

        lines += _list_table(
            "Send-family system calls (sendto, sendmsg, write, writev) of 10,000 writes "
            "of 64 bytes, counted with strace, minus the same process making no writes",
            ["workload", *(label(impl) for impl in counted)],
            ([f"``{name}``", *(count(name, impl) for impl in counted)] for name in names),
        )
    flood = [
        sample
        for sample in results["samples"]
        if sample["workload"] == "udp_flood" and sample.get("error") is None
    ]
    if flood:
        lines += _flood_table(flood)
    failures = [sample for sample in results["samples"] if sample.get("error")]
    if failures:
        lines += [
            f"{len(failures)} measurement(s) failed and are left out: "
            + "; ".join(sorted({f"{s['impl']} {s['workload']} {s['placement']}" for s in failures}))
            + ".",
            "",
        ]
    if chart:
        lines += [
            f".. figure:: {chart}",
            "   :width: 100%",
            "   :alt: Bar charts, one per metric, of each implementation's median relative "
            "to raw trio's",
            "",
            "   Each implementation's median divided by raw trio's in the same run (the "
            "table's ratio), one panel per metric; raw trio is 1, and each panel's axis "
            "says whether higher or lower is better. The WebSocket panels divide by the "
            "fastest WebSocket peer's median instead. trio_sockets is written with the "
            "tutorial's WinRT calls; its trio-calls line is in the tables.",
            "",
        ]
    return "\n".join(lines)


def _flood_table(flood: list[dict[str, Any]]) -> list[str]:
    best = sorted(flood, key=lambda sample: sample["sample"]["rate"])[len(flood) // 2]
    steps = best["sample"].get("steps", [])
    body = [
        [
            fmt(step["offered"]),
            f"{step['sent']:,}",
            f"{step['consumed']:,}",
            f"{step['dropped']:,}",
            f"{step['kernel_lost']:,}",
            "yes" if step["exact"] else "no",
        ]
        for step in steps
    ]
    return _list_table(
        "``udp_flood`` (trio_sockets only), the steps of the median repetition: datagrams "
        "offered per second, sent, delivered to the consumer, dropped and counted by the "
        "socket, and lost in the kernel (sent but never received)",
        ["offered (dg/s)", "sent", "delivered", "dropped (counted)", "lost in kernel", "exact"],
        body,
    )


def chart(results: Results, path: Path) -> None:
    """Write :func:`figure` to *path* as a PNG."""
    import matplotlib.pyplot as plt

    fig = figure(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=200, bbox_inches="tight")
    plt.close(fig)


def figure(results: Results) -> Figure:
    """One panel per metric and reference of the ratios to raw trio (or, for the
    WebSocket workloads, to the fastest peer), each axis saying which way is better."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    impls = [impl for impl in implementations(results) if impl not in CHART_LEFT_OUT]
    panels: dict[tuple[str, str], list[Row]] = {}
    for row in rows(results):
        if not row[0].only:
            panels.setdefault((row[2].label, row[0].reference), []).append(row)
    if not panels:
        fig, axis = plt.subplots(figsize=(7.5, 1.5))
        axis.set_axis_off()
        axis.text(0.5, 0.5, "no measurements to chart", ha="center", va="center")
        return fig
    heights = [len(panel) for panel in panels.values()]
    # Shown 46em (742 px) wide beside the documentation's navigation: at 7.5 inches and
    # 9.5 points the labels come out about 13 px high there, sharp on HiDPI screens too.
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.5, 0.42 * sum(heights) + 0.95 * len(panels) + 1.2),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
        layout="constrained",
    )
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # One color per implementation across the panels; each panel makes room only for
    # the implementations it has (the socket and WebSocket stacks differ).
    colors = {impl: cycle[index % len(cycle)] for index, impl in enumerate(impls)}
    for axis, ((metric_label, _), panel) in zip(axes[:, 0], panels.items(), strict=True):
        shown = [
            impl
            for impl in impls
            if any(not math.isnan(ratio(results, row, impl)) for row in panel)
        ]
        height = 0.8 / max(1, len(shown))
        for index, impl in enumerate(shown):
            positions = []
            widths = []
            for number, row in enumerate(panel):
                value = ratio(results, row, impl)
                if math.isnan(value) or value <= 0:
                    continue
                positions.append(number + index * height - 0.4 + height / 2)
                widths.append(value)
            axis.barh(positions, widths, height=height, color=colors[impl])
        axis.axvline(1.0, color="black", linewidth=0.8)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}×"))  # noqa: RUF001
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_yticks(range(len(panel)))
        axis.set_yticklabels([f"{row[0].name} {row[1]}" for row in panel], fontsize=9.5)
        axis.set_ylim(len(panel) - 0.5, -0.5)
        better = "higher is better" if panel[0][2].higher_is_better else "lower is better"
        # The ratio has no unit: "wall time (ms)" is shown as "wall time".
        quantity = metric_label.split(" (")[0]
        axis.set_xlabel(f"{quantity} ÷ {reference_text(panel[0][0])}: {better}", fontsize=9.5)
        axis.grid(axis="x", which="both", alpha=0.3)
    handles = [Patch(color=colors[impl]) for impl in impls]
    names = [label(impl) for impl in impls]
    fig.legend(
        handles,
        names,
        loc="outside upper center",
        ncol=3,
        fontsize=9.5,
        frameon=False,
        title=f"trio_sockets (WinRT calls) and peers, relative to raw trio (WebSocket: "
        f"to the fastest peer), {results['meta']['mode']} run",
        title_fontsize=10.5,
    )
    return fig


def text(results: Results) -> str:
    """A compact plain-text table of medians and ratios (for the terminal)."""
    impls = implementations(results)
    lines = []
    header = f"{'workload':<22} {'place':<6} {'metric':<16}" + "".join(
        f"{label(impl)[:18]:>19}" for impl in impls
    )
    lines.append(header)
    for row in rows(results):
        workload, placement, metric = row
        cells = []
        for impl in impls:
            found = values(results, row, impl)
            if not found:
                cells.append(f"{'-':>19}")
                continue
            value = fmt(statistics.median(found), metric.decimals)
            share = ratio(results, row, impl)
            suffix = "" if impl == workload.reference or math.isnan(share) else f" {share:.2f}x"
            cells.append(f"{value + suffix:>19}")
        arrow = "+" if metric.higher_is_better else "-"
        lines.append(
            f"{workload.name:<22} {placement:<6} {(metric.key + ' ' + arrow):<16}" + "".join(cells)
        )
    for verdict in verdicts(results):
        workload, placement, metric = verdict.row
        shown = "n/a" if math.isnan(verdict.ratio) else f"{verdict.ratio:.2f}x"
        lines.append(
            f"target {workload.name:<22} {placement:<6} {metric.key:<9} "
            f"{verdict.bound_text():<26} {shown:>7} {verdict.verdict_text()}"
        )
    for entry in results.get("syscalls") or []:
        lines.append(
            f"send calls {entry['workload']:<22} {entry['impl']:<14} "
            f"{entry.get('calls', entry.get('error'))} {entry.get('by_name', '')}"
        )
    return "\n".join(lines)

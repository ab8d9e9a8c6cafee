"""Run the benchmark suite: ``python -m benchmarks [--quick] [...]``.

Every measurement is a fresh ``python -m benchmarks.worker`` process (warm-up, then one
measured run). Repetitions are interleaved: each repetition runs every workload and
placement, and for each of those every implementation in turn, so drift of the machine
over the run hits all implementations alike. Medians, the spread and the ratio to raw
trio are written to ``docs/performance-results.rst``, a bar chart to
``docs/_static/performance.png``, and the raw samples to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import Params
from benchmarks.workloads import (
    BY_NAME,
    IMPLEMENTATIONS,
    REFERENCE,
    WORKLOADS,
    Mode,
    Workload,
    available,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS_RST = ROOT / "docs" / "performance-results.rst"
DOCS_CHART = ROOT / "docs" / "_static" / "performance.png"
#: The chart's path as the including page (docs/performance.rst) sees it.
CHART_REF = "_static/performance.png"
SEND_CALLS = ("sendto", "sendmsg", "write", "writev")
MEASUREMENT_TIMEOUT = 300


def _worker(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.worker", *args]


def measure(impl: str, workload: Workload, placement: str, params: Params) -> dict[str, Any]:
    """One measurement in a fresh process; the worker's JSON, or ``{"error": ...}``."""
    command = _worker(
        "run", "--impl", impl, "--workload", workload.name, "--params", params.to_json()
    )
    command += ["--warmup", str(workload.warmup)]
    if placement == "xproc" and workload.name != "udp_flood":
        command.append("--xproc")
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=MEASUREMENT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {MEASUREMENT_TIMEOUT} s"}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {_last_error(proc.stderr)}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _last_error(stderr: str) -> str:
    """The last message of a traceback, without the frame of an exception group."""
    for line in reversed(stderr.splitlines()):
        text = line.strip(" |+-")
        if text:
            return text
    return "(no output)"


def count_send_calls(impl: str, workload: Workload, params: Params) -> dict[str, Any]:
    """Send-family calls of *workload* (inproc) minus the same run with zero writes."""
    strace = shutil.which("strace")
    if strace is None:
        return {"error": "strace is not installed"}
    counts = []
    for run_params in (params, Params(0, params.size)):
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
            command = [
                strace,
                "-f",
                "-c",
                # Only the traced calls stop the process (much faster for the others).
                "--seccomp-bpf",
                "-o",
                out.name,
                "-e",
                "trace=" + ",".join(SEND_CALLS),
                *_worker(
                    "run",
                    "--impl",
                    impl,
                    "--workload",
                    workload.name,
                    "--params",
                    run_params.to_json(),
                    "--warmup",
                    "0",
                ),
            ]
            proc = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=MEASUREMENT_TIMEOUT
            )
            if proc.returncode != 0:
                return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-200:]}"}
            counts.append(parse_strace_summary(out.read()))
    by_name = {
        name: counts[0].get(name, 0) - counts[1].get(name, 0)
        for name in SEND_CALLS
        if counts[0].get(name, 0) - counts[1].get(name, 0)
    }
    return {"calls": sum(by_name.values()), "by_name": by_name}


def parse_strace_summary(text: str) -> dict[str, int]:
    """``{syscall: calls}`` from the table of ``strace -c``."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in SEND_CALLS and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("trio-sockets", "trio", "anyio", "uvloop", "websockets", "trio-websocket"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package.replace("-", "_")] = metadata.version(package)
    return versions


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = os.cpu_count() or 1
    return f"{cpus} CPUs{f' ({model})' if model else ''}, {platform.system()} {platform.release()}"


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes, 3 repetitions, the 50-connection and 64-in-flight workloads "
        "in-process only (about 7 minutes on a busy 2-CPU machine)",
    )
    parser.add_argument("--repetitions", type=int, help="repetitions (default 5, quick 3)")
    parser.add_argument("--impl", help="comma-separated implementations (default: all)")
    parser.add_argument("--workload", help="comma-separated workloads (default: all)")
    parser.add_argument("--placement", help="inproc, xproc or both (default)")
    parser.add_argument("--no-strace", action="store_true", help="skip the system-call counts")
    parser.add_argument("--no-docs", action="store_true", help="do not write the docs page")
    parser.add_argument("--results", type=Path, help="where to write the raw JSON")
    parser.add_argument(
        "--from-json", type=Path, help="only regenerate the docs page from a results file"
    )
    args = parser.parse_args(argv)

    if args.from_json:
        write_docs(json.loads(args.from_json.read_text()))
        return 0

    mode: Mode = "quick" if args.quick else "full"
    repetitions = args.repetitions or (3 if args.quick else 5)
    impls = args.impl.split(",") if args.impl else list(IMPLEMENTATIONS)
    unknown = [name for name in impls if name not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"unknown implementation(s) {unknown}; known: {list(IMPLEMENTATIONS)}")
    missing = [name for name in impls if not available(name)]
    for name in missing:
        print(f"skipping {name}: its packages are not installed", file=sys.stderr)
    impls = [name for name in impls if name not in missing]
    names = args.workload.split(",") if args.workload else [w.name for w in WORKLOADS]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; known: {list(BY_NAME)}")
    workloads = [BY_NAME[name] for name in names]
    if not _has_datagram_socket():
        dropped = [w.name for w in workloads if w.udp]
        if dropped:
            print(f"skipping {dropped}: trio_sockets has no DatagramSocket", file=sys.stderr)
        workloads = [w for w in workloads if not w.udp]
    placements = ("inproc", "xproc") if not args.placement else tuple(args.placement.split(","))

    cases = [
        (workload, placement, impl)
        for workload in workloads
        for placement in workload.placements_in(mode)
        if placement in placements or workload.placements == ("xproc",)
        for impl in impls
        if workload.runs_on(impl)
    ]
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "repetitions": repetitions,
        "machine": _machine(),
        "cpus": os.cpu_count() or 1,
        "python": platform.python_version(),
        "versions": _versions(),
        "load_start": _load(),
        "pinned": hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2,
        "reference": REFERENCE,
        "params": {w.name: json.loads(w.params(mode).to_json()) for w in workloads},
    }
    samples: list[dict[str, Any]] = []
    total = len(cases) * repetitions
    started = time.monotonic()
    failures = 0
    print(
        f"{mode} run: {len(cases)} cases x {repetitions} repetitions, "
        f"implementations {', '.join(impls)}; load average {meta['load_start']:.2f}",
        file=sys.stderr,
    )
    done = 0
    for repetition in range(repetitions):
        for workload, placement, impl in cases:
            began = time.monotonic()
            result = measure(impl, workload, placement, workload.params(mode))
            done += 1
            entry = {
                "impl": impl,
                "workload": workload.name,
                "placement": placement,
                "repetition": repetition,
                "sample": result.get("sample"),
                "pinned": result.get("pinned"),
                "error": result.get("error"),
            }
            samples.append(entry)
            if entry["error"]:
                failures += 1
                shown = f"FAILED: {entry['error']}"
            else:
                shown = "; ".join(
                    f"{report.fmt(metric.compute(result['sample']), metric.decimals)} "
                    f"{metric.label}"
                    for metric in workload.metrics
                )
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done)
            print(
                f"[{done:>4}/{total}] rep {repetition + 1}/{repetitions} "
                f"{workload.name:<22} {placement:<6} {impl:<14} {shown} "
                f"({time.monotonic() - began:.1f} s, ~{eta:.0f} s left)",
                file=sys.stderr,
                flush=True,
            )
    syscalls = []
    counted_cases = [
        (workload, impl)
        for workload in workloads
        if workload.strace and not args.no_strace
        for impl in impls
        if workload.runs_on(impl)
    ]
    for workload, impl in counted_cases:
        counted = count_send_calls(impl, workload, workload.params(mode))
        syscalls.append({"impl": impl, "workload": workload.name, **counted})
        print(
            f"strace {workload.name:<22} {impl:<14} "
            f"{counted.get('calls', counted.get('error'))} send calls "
            f"{counted.get('by_name', '')}",
            file=sys.stderr,
            flush=True,
        )
    meta["load_end"] = _load()
    meta["seconds"] = round(time.monotonic() - started, 1)
    results = {"meta": meta, "samples": samples, "syscalls": syscalls}
    path = args.results or RESULTS_DIR / f"{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"raw samples: {path}", file=sys.stderr)
    if not args.no_docs:
        write_docs(results)
    print(report.text(results), file=sys.stderr)
    print(
        f"done in {meta['seconds']:.0f} s; load average {meta['load_end']:.2f} at the end",
        file=sys.stderr,
    )
    return 1 if failures else 0


def write_docs(results: dict[str, Any]) -> None:
    report.chart(results, DOCS_CHART)
    DOCS_RST.write_text(report.rst(results, CHART_REF))
    print(f"wrote {DOCS_RST.relative_to(ROOT)} and {DOCS_CHART.relative_to(ROOT)}", file=sys.stderr)


def _has_datagram_socket() -> bool:
    try:
        import trio_sockets
    except ImportError:
        return False
    return hasattr(trio_sockets, "DatagramSocket")

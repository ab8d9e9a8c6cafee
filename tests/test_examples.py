"""The ported samples and the demo command, run for real."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from trio_sockets.examples import batched_sends, tcp_echo

ROOT = Path(__file__).resolve().parent.parent

SEED_TCP_LINES = [
    "server is listening...",
    "client is trying to connect...",
    "client connected",
    'client sent the request: "Hello, World!"',
    'server received the request: "Hello, World!"',
    'server sent back the response: "Hello, World!"',
    "server closed its socket",
    'client received the response: "Hello, World!" ',
    "client closed its socket",
]


async def test_tcp_echo_sample_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert await tcp_echo.main("0") == "Hello, World!"
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(SEED_TCP_LINES)
    # The causal order of the sample holds on each side.
    for earlier, later in [
        ("server is listening...", "client connected"),
        ("client connected", 'server received the request: "Hello, World!"'),
        ('server received the request: "Hello, World!"', "server closed its socket"),
        ('client received the response: "Hello, World!" ', "client closed its socket"),
    ]:
        assert lines.index(earlier) < lines.index(later)


async def test_batched_sends_sample_delivers_every_packet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    received = await batched_sends.main("0", 5)
    assert received == ["Hello, World!" * 5] * 3
    out = capsys.readouterr().out
    for variant in ("inefficient", "gathered", "flush"):
        assert f"client sent 5 packets ({variant})" in out


def test_tcp_echo_script_runs_standalone() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tcp_echo.py"), "--service", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'client received the response: "Hello, World!" ' in result.stdout


def test_demo_command_runs_the_samples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_sockets", "demo", "--service", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "== TCP echo" in result.stdout
    assert "== Batched sends ==" in result.stdout
    assert 'server received the request: "Hello, World!"' in result.stdout


def test_demo_command_reports_a_busy_port_and_fails() -> None:
    with socket.socket(socket.AF_INET6) as blocker:
        blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        blocker.bind(("::", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "trio_sockets", "demo", "--service", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "ADDRESS_ALREADY_IN_USE" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_command_needs_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_sockets"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "demo" in result.stderr

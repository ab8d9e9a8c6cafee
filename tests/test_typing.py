"""A strictly typed program written against the documented interface type-checks, with
``mypy --strict`` and pyright in strict mode, against the package as its users see it:
the public names only, never a private module.

The checkers run on a small user program (:data:`PROGRAM`), with the package's source
tree on their search path (mypy cannot see an editable install). Each line of the program
uses a piece of the documented API whose type once leaked a private class, or was
missing from the public types.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = '''\
"""A user's program, strictly typed, using only trio_sockets' public names."""

from __future__ import annotations

from trio_sockets import (
    DatagramSocket,
    HostName,
    InputStream,
    MessageWebSocket,
    OutputStream,
    SocketOutputStream,
    StreamSocket,
    StreamWebSocket,
    WriteOperation,
)


async def send_batch(out: SocketOutputStream, chunks: list[bytes]) -> int:
    """The documented extra members of a socket's output stream."""
    if out.room_bytes < sum(len(c) + 256 for c in chunks):
        await out.flush()
    out.max_pending_bytes = max(out.max_pending_bytes, out.pending_bytes)
    ops: list[WriteOperation] = [out.write(c) for c in chunks]
    return sum([await op for op in ops])


async def send_one(out: OutputStream, data: bytes) -> int:
    """Any output stream's write() gives a WriteOperation, with its documented members."""
    op: WriteOperation = out.write(data)
    size: int = op.nbytes
    return size if op.done else await op


async def streams(
    sock: StreamSocket, dgram: DatagramSocket, ws: MessageWebSocket, sw: StreamWebSocket
) -> int:
    sent = await send_batch(sock.output_stream, [b"a", b"bc"])
    sent += await send_batch(dgram.output_stream, [b"a"])
    sent += await send_batch(await dgram.get_output_stream(HostName("127.0.0.1"), "9"), [b"a"])
    sent += await send_one(ws.output_stream, b"x") + await send_one(sw.output_stream, b"y")
    message: WriteOperation = ws.output_stream.write(b"z")
    sent += message.nbytes
    received: list[InputStream] = [sock.input_stream, sw.input_stream]
    return sent + len(received)


# API.md's keyword, and the deprecated one of 0.2.
HOSTS = [HostName(name="example.com"), HostName(host_name="example.com")]
'''


def _checker(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:  # pragma: no cover - the dev extra installs both
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user-program") / "user_program.py"
    path.write_text(PROGRAM, encoding="utf-8")
    return path


def test_a_user_program_passes_mypy_strict(program: Path) -> None:
    # --follow-imports=silent: the package is checked as the program uses it, and only
    # the program's own errors are shown, as for an installed package.
    command = [
        _checker("mypy"),
        "--strict",
        "--follow-imports=silent",
        "--cache-dir",
        str(program.parent / ".mypy_cache"),
        "--python-executable",
        sys.executable,
        program.name,
    ]
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    result = subprocess.run(
        command, cwd=program.parent, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_a_user_program_passes_pyright_strict(program: Path) -> None:
    config = {
        "typeCheckingMode": "strict",
        "pythonVersion": "3.11",
        "extraPaths": [str(ROOT)],
        "include": [program.name],
    }
    (program.parent / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    command = [_checker("pyright"), "--pythonpath", sys.executable, program.name]
    result = subprocess.run(
        command, cwd=program.parent, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _pyright_on(program: Path, source: str) -> subprocess.CompletedProcess[str]:
    """pyright, strict, on *source* written beside *program* (its configuration)."""
    path = program.parent / "misuse.py"
    path.write_text(source, encoding="utf-8")
    config = {"typeCheckingMode": "strict", "extraPaths": [str(ROOT)], "include": [path.name]}
    (program.parent / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    command = [_checker("pyright"), "--pythonpath", sys.executable, path.name]
    return subprocess.run(command, cwd=program.parent, capture_output=True, text=True, timeout=600)


def test_pyright_knows_an_endpoint_pair_is_unhashable(program: Path) -> None:
    # hash(pair) raises TypeError; a plain ``__hash__ = None`` hid that from pyright,
    # which passed {pair} and dict keys.
    result = _pyright_on(
        program,
        "from trio_sockets import EndpointPair, HostName\n"
        'pair = EndpointPair(None, "", HostName("127.0.0.1"), "80")\n'
        "tried = {pair}\n"
        "ports: dict[EndpointPair, int] = {pair: 80}\n",
    )
    assert result.stdout.count("reportUnhashable") == 2, result.stdout[-4000:]


def test_the_package_s_own_annotations_are_complete() -> None:
    """``pyright --verifytypes``: what it still reports comes from trio's base classes
    (and the classes built on them), never from a declaration the package lacks."""
    command = [_checker("pyright"), "--pythonpath", sys.executable, "--outputjson"]
    command += ["--verifytypes", "trio_sockets", "--ignoreexternal"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # found as a library, py.typed
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)["typeCompleteness"]
    assert Path(report["packageRootDirectory"]) == ROOT / "trio_sockets"
    missing = [
        f"{symbol['name']}: {diagnostic['message']}"
        for symbol in report["symbols"]
        for diagnostic in symbol["diagnostics"]
        if diagnostic["message"].startswith(
            ("Type is missing type annotation", "Ambiguous base class override")
        )
    ]
    assert not missing

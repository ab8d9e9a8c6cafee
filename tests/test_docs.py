"""The code examples of the documentation, run as tests: README.md and docs/*.rst.

Every Python code block is collected, and each is one of four kinds:

program (an unmarked block)
    A complete program. It runs as a script in a subprocess, with ``-W error``, against
    real sockets on loopback, and must exit 0 within ``DEADLINE`` seconds. Each line that
    calls ``print()`` ends with a comment showing what it prints
    (``print(data)  # b'ping'``): standard output must be exactly those lines, in order,
    and a ``print()`` without its comment fails the test.
test module (an unmarked block that defines ``test_...`` functions)
    Run with pytest in a subprocess, in a directory configured by the ``pyproject.toml``
    that docs/howto-testing.rst shows; the trio_sockets pytest plugin gives the tests
    their peers (echo servers, a DNS server). Every test in it must pass.
excerpt (``:class: excerpt`` in reST; ``<!-- excerpt -->`` above the fence in Markdown)
    Lines quoted from a runnable example under examples/, which the tests run. It must
    compile, and its lines, ``...`` placeholders left out, must appear in that order in
    one of the example files, so the prose cannot drift from the code that is tested.
fragment (``:class: fragment``; ``<!-- fragment -->``)
    A piece that needs surroundings it does not show. It must compile (top-level
    ``await``, ``async for`` and ``async with`` allowed) and its imports must resolve. A
    fragment whose ``:name:`` (reST) appears in ``HARNESSES`` also runs, inside the
    program given there, whose output must be exactly the one given there.

No Python reaches the documentation unchecked: a literal block (``::``), a code block
in another Python dialect (``pycon``) or a doctest directive fails the test, and every
file shown with ``literalinclude`` runs as a script (``INCLUDED_SCRIPTS``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import random
import re
import subprocess
import sys
import textwrap
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool
from netns import network_namespace

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

#: Seconds a documented program, test module or script may take.
DEADLINE = 60

PYTHON = {"python", "python3", "py"}
#: Code block languages that are Python but cannot be checked here.
UNSUPPORTED = {"pycon", "ipython", "ipython3", "pytb"}
#: reST directives whose body is not reST (their lines are never literal blocks).
_OPAQUE = {"code-block", "code", "sourcecode", "literalinclude", "include", "raw", "math"}
_DOCTEST_DIRECTIVES = {"doctest", "testcode", "testsetup", "testcleanup", "testoutput"}

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<name>[\w-]+)::\s*(?P<argument>.*?)\s*$")
_OPTION = re.compile(r"^\s+:(?P<name>[\w-]+):\s*(?P<value>.*?)\s*$")
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>.*?)\s*$")
_MARKDOWN_MARKER = re.compile(r"^<!--\s*(?P<marker>[\w: -]+?)\s*-->$")
_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)\{\{(?P<name>[\w-]+)\}\}$", re.M)


@dataclass
class Block:
    path: Path
    line: int
    language: str
    code: str
    classes: set[str] = field(default_factory=set)
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if "excerpt" in self.classes:
            return "excerpt"
        if "fragment" in self.classes:
            return "fragment"
        if re.search(r"^(async )?def test_", self.code, re.M):
            return "test module"
        return "program"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rst_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if match is None or match["name"] not in {"code-block", "code", "sourcecode"}:
            index += 1
            continue
        start, indent = index + 1, len(match["indent"])
        index += 1
        options = {}
        while index < len(lines) and (option := _OPTION.match(lines[index])):
            options[option["name"]] = option["value"]
            index += 1
        body = []
        while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > indent):
            body.append(lines[index])
            index += 1
        blocks.append(
            Block(
                path,
                start,
                # Without a language, Sphinx highlights the block as Python.
                match["argument"] or "python",
                textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                set(options.get("class", "").split()),
                options.get("name", ""),
            )
        )
    return blocks


def _markdown_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        start = index + 1
        end = next(
            (i for i in range(start, len(lines)) if lines[i].startswith(match["fence"])),
            len(lines),
        )
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKDOWN_MARKER.match(previous.strip())
        words = marker["marker"].split() if marker else []
        name = next((word[5:] for word in words if word.startswith("name:")), "")
        language = match["info"].split()[0] if match["info"] else ""
        classes = {word for word in words if not word.startswith("name:")}
        code = "\n".join(lines[start:end]) + "\n"
        blocks.append(Block(path, start, language, code, classes, name))
        index = end + 1
    return blocks


def _blocks(path: Path) -> list[Block]:
    return _markdown_blocks(path) if path.suffix == ".md" else _rst_blocks(path)


ALL_BLOCKS = [block for path in DOCUMENTS for block in _blocks(path)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.language in PYTHON]


def _of_kind(*kinds: str) -> list[Any]:
    return [pytest.param(block, id=block.id) for block in PYTHON_BLOCKS if block.kind in kinds]


def _run(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        arguments, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, check=False
    )


def _expected_output(code: str) -> str:
    """The lines the program prints: the comments ending its ``print()`` lines."""
    comments = {
        start[0]: text.removeprefix("#").strip()
        for kind, text, start, _, _ in tokenize.generate_tokens(io.StringIO(code).readline)
        if kind == tokenize.COMMENT
    }
    printed = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
            assert node.end_lineno is not None
            comment = comments.get(node.end_lineno)
            assert comment, f"line {node.end_lineno}: print() without a comment of its output"
            printed.append((node.lineno, comment))
    return "".join(f"{comment}\n" for _, comment in sorted(printed))


#: The harnesses and example files that send to a multicast group: they run in a
#: network namespace of their own, so nothing is sent to a group in the host's.
MULTICAST = frozenset({"multicast", "multicast_chat.py"})


@contextlib.contextmanager
def _python(name: str) -> Iterator[list[str]]:
    """The command that runs a program, in a namespace of its own if it is in MULTICAST."""
    if name not in MULTICAST:
        yield [sys.executable, "-W", "error"]
        return
    with network_namespace("tsdoc") as namespace:
        yield ["ip", "netns", "exec", namespace, sys.executable, "-W", "error"]


def _run_program(code: str, tmp_path: Path, expected: str, python: list[str] | None = None) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    result = _run([*(python or [sys.executable, "-W", "error"]), str(script)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected, result.stderr


def _compile_fragment(block: Block) -> ast.Module:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree: ast.Module = compile(block.code, block.id, "exec", flags=flags)
    return tree


def _check_imports(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


# -- the kinds ---------------------------------------------------------------------------


def test_every_python_block_is_collected_with_a_known_kind() -> None:
    for path in DOCUMENTS:
        # Counted independently of the parser, which a mistake could make miss blocks
        # (and so leave the tests above with nothing to check).
        pattern = (
            r"^```(?:python|python3|py)\b"
            if path.suffix == ".md"
            else r"^\s*\.\. code-block:: python$"
        )
        expected = len(re.findall(pattern, path.read_text(), re.M))
        assert len([block for block in PYTHON_BLOCKS if block.path == path]) == expected, path
    for block in PYTHON_BLOCKS:
        # A misspelt marker would make a fragment a program.
        assert block.classes <= {"fragment", "excerpt"}, f"{block.id}: {block.classes}"


@pytest.mark.parametrize("block", _of_kind("program"))
def test_program(block: Block, tmp_path: Path) -> None:
    _run_program(block.code, tmp_path, _expected_output(block.code))


@pytest.mark.parametrize("block", _of_kind("test module"))
def test_test_module(block: Block, tmp_path: Path) -> None:
    if "dns_server" in block.code:
        require_tool("dnsmasq")
    (tmp_path / "pyproject.toml").write_text(_PYTEST_CONFIGURATION)
    (tmp_path / "test_example.py").write_text(block.code)
    result = _run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", "-q"], tmp_path
    )
    tests = len(re.findall(r"^(?:async )?def test_", block.code, re.M))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tests} passed" in result.stdout, result.stdout


@pytest.mark.parametrize("block", _of_kind("excerpt", "fragment"))
def test_fragment_compiles_and_imports(block: Block) -> None:
    _check_imports(_compile_fragment(block))


@pytest.mark.parametrize("block", _of_kind("excerpt"))
def test_excerpt_is_quoted_from_an_example(block: Block) -> None:
    wanted = [
        line.strip()
        for line in block.code.splitlines()
        if line.strip() and not line.strip().startswith("...")
    ]
    best: tuple[str, list[str]] | None = None
    for example in EXAMPLES:
        lines = [line.strip() for line in example.read_text().splitlines()]
        missing, position = [], 0
        for line in wanted:
            # A comment the quote adds (two spaces, then "#") may end the line.
            code = line.split("  # ")[0]
            found = [i for i in range(position, len(lines)) if lines[i] in (line, code)]
            if found:
                position = found[0] + 1
            else:
                missing.append(line)
        if not missing:
            return
        if best is None or len(missing) < len(best[1]):
            best = (example.name, missing)
    assert best is not None
    pytest.fail(f"not in {best[0]} in this order: {best[1]}")


# -- fragments run in surroundings of their own -------------------------------------------

#: ``:name:`` of fragments -> a program that runs them, and its exact output. ``{{name}}``
#: on a line of its own is replaced by the fragment, indented as the placeholder is.
HARNESSES = {
    "tutorial-length-prefixed": (
        """
import trio
from trio_sockets import DataReader, DataWriter, HostName, StreamSocket, StreamSocketListener


async def main():
    async with StreamSocketListener() as listener:
        await listener.bind_service_name("0")
        service = listener.information.local_port

        async def server():
            args = await listener.connection_received.receive()
            async with args.socket as sock:
                {{tutorial-length-prefixed-server}}
            print("server:", request)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            async with StreamSocket() as sock:
                {{tutorial-length-prefixed-client}}
    print("client:", response)


trio.run(main)
""",
        "server: Hello, World!\nclient: Hello, World!\n",
    ),
    "tutorial-receive-some": (
        """
import trio
from trio_sockets import StreamSocket
from trio_sockets.testing import TcpEchoServer


async def main():
    async with TcpEchoServer() as server, StreamSocket() as sock:
        await sock.connect(server.host, server.port)
        for part in (b"one ", b"line\\n"):
            await sock.send_all(part)
            await trio.sleep(0.01)
        {{tutorial-receive-some}}
    print(data)


trio.run(main)
""",
        "b'one line\\n'\n",
    ),
    "batched-receiving-side": (
        """
import trio
from trio_sockets import DataReader, InputStreamOptions, StreamSocket, StreamSocketListener

requests = []


async def main():
    async with StreamSocketListener() as listener, StreamSocket() as client:
        await listener.bind_service_name("0")
        await client.connect("localhost", listener.information.local_port)
        for _ in range(5):
            client.output_stream.write(b"Hello, World!")
        await client.output_stream.flush()
        await client.send_eof()
        async with (await listener.connection_received.receive()).socket as sock:
            await serve(sock)
    print("".join(requests))


async def serve(sock):
    def print(line):  # the fragment's log lines, however the reads split the data
        requests.append(line.removeprefix("server received the request: ").strip('"'))

    {{batched-receiving-side}}


trio.run(main)
""",
        "Hello, World!" * 5 + "\n",
    ),
    "batched-flush-every-1000": (
        """
import trio
from trio_sockets import StreamSocket, StreamSocketListener

packets = [bytes([i % 256]) * 64 for i in range(2500)]


async def main():
    async with StreamSocketListener() as listener, StreamSocket() as sock:
        await listener.bind_service_name("0")
        await sock.connect("localhost", listener.information.local_port)
        async with (await listener.connection_received.receive()).socket as server:
            async with trio.open_nursery() as nursery:

                async def drain():
                    received = bytearray()
                    while data := await server.receive_some():
                        received += data
                    print(bytes(received) == b"".join(packets))

                nursery.start_soon(drain)
                {{batched-flush-every-1000}}
                await sock.send_eof()


trio.run(main)
""",
        "True\n",
    ),
    "multicast": (
        """
import trio
from trio_sockets import DatagramSocket, HostName

heard = []


async def main():
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive, nursery.cancel_scope)
            for _ in range(100):  # until the receiver has joined the group and hears it
                {{multicast-send}}
                await trio.sleep(0.05)
    print(heard[0])


async def receive(cancel_scope):
    def print(*what):  # the first line the fragment prints ends the program
        heard.append(" ".join(map(str, what)))
        cancel_scope.cancel()

    {{multicast-receive}}


trio.run(main)
""",
        "127.0.0.1 239.255.42.99 b'hello, group'\n",
    ),
}


def _harness_fragments(template: str) -> list[str]:
    return [match["name"] for match in _PLACEHOLDER.finditer(template)]


def _named_fragment(name: str) -> Block:
    (block,) = [block for block in PYTHON_BLOCKS if block.name == name]
    assert block.kind == "fragment", f"{block.id} is named {name!r} but not a fragment"
    return block


def test_every_harness_has_its_fragments() -> None:
    for template, _ in HARNESSES.values():
        for name in _harness_fragments(template):
            _named_fragment(name)


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_fragments_run_in_their_harness(harness: str, tmp_path: Path) -> None:
    template, expected = HARNESSES[harness]

    def insert(match: re.Match[str]) -> str:
        return textwrap.indent(_named_fragment(match["name"]).code, match["indent"]).rstrip()

    with _python(harness) as python:
        _run_program(_PLACEHOLDER.sub(insert, template), tmp_path, expected, python)


# -- no Python escapes -------------------------------------------------------------------


def _literal_blocks(path: Path) -> list[int]:
    """Lines ending a paragraph with ``::`` (a literal block, highlighted as Python)."""
    lines = path.read_text().splitlines()
    found = []
    opaque_indent: int | None = None
    for number, line in enumerate(lines, 1):
        if opaque_indent is not None:
            if not line.strip() or _indent(line) > opaque_indent:
                continue
            opaque_indent = None
        directive = _DIRECTIVE.match(line)
        if directive is not None:
            if directive["name"] in _OPAQUE:
                opaque_indent = len(directive["indent"])
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            found.append(number)
    return found


def test_no_python_escapes_the_checks() -> None:
    problems = []
    for path in DOCUMENTS:
        where = path.relative_to(ROOT)
        if path.suffix == ".rst":
            problems += [f"{where}:{line}: a literal block" for line in _literal_blocks(path)]
            for number, line in enumerate(path.read_text().splitlines(), 1):
                directive = _DIRECTIVE.match(line)
                if directive is not None and directive["name"] in _DOCTEST_DIRECTIVES:
                    problems.append(f"{where}:{number}: a {directive['name']} directive")
    problems += [
        f"{block.id}: a {block.language} block"
        for block in ALL_BLOCKS
        if block.language in UNSUPPORTED
    ]
    assert not problems, "use a python code block instead:\n" + "\n".join(problems)


# -- files shown with literalinclude -----------------------------------------------------


def _group() -> str:
    """A multicast group no other test uses at the same time."""
    return f"239.255.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


#: Every example file the documentation includes, with the arguments that make it run on
#: free ports (and briefly), and text its output must contain.
INCLUDED_SCRIPTS = {
    "tcp_echo.py": (lambda: ["--service", "0"], 'client received the response: "Hello, World!"'),
    "udp_echo.py": (
        lambda: ["--server-service", "0", "--client-service", "0"],
        'client received the response: "Hello, World!"',
    ),
    "batched_sends.py": (lambda: ["--service", "0"], "client sent 5 packets (flush)"),
    "multicast_chat.py": (
        lambda: ["--port", "0", "--group", _group(), "--duration", "0.5", "--interval", "0.1"],
        "anonymous heard 'anonymous: hello'",  # its own line, through the group
    ),
    "service_names.py": (list, "echoes: hello"),
    "websocket_echo.py": (list, "Closed; Code: 1000, Reason: Closed due to user request."),
    "websocket_stream.py": (
        lambda: ["--interval", "0.01"],
        "Bytes sent: 30, bytes received: 30",
    ),
}


def test_every_included_file_is_run() -> None:
    included = set()
    for path in DOCUMENTS:
        for match in re.finditer(r"^\s*\.\. literalinclude:: (\S+)", path.read_text(), re.M):
            target = (path.parent / match[1]).resolve()
            assert target.parent == ROOT / "examples", target
            included.add(target.name)
    assert included == set(INCLUDED_SCRIPTS)


@pytest.mark.parametrize("script", sorted(INCLUDED_SCRIPTS))
def test_included_file_runs(script: str, tmp_path: Path) -> None:
    if script == "service_names.py":
        require_tool("dnsmasq")
    arguments, expected = INCLUDED_SCRIPTS[script]
    with _python(script) as python:
        result = _run([*python, str(ROOT / "examples" / script), *arguments()], tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def _pytest_configuration() -> str:
    """The ``pyproject.toml`` of docs/howto-testing.rst, which test modules run under."""
    (block,) = [
        block for block in _blocks(ROOT / "docs" / "howto-testing.rst") if block.language == "toml"
    ]
    return block.code


_PYTEST_CONFIGURATION = _pytest_configuration()

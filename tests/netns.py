"""Network namespaces for tests that need more than loopback (root, ``ip`` from iproute2).

:func:`network_namespace` makes a throwaway namespace and deletes it afterwards; where
namespaces cannot be made the test is skipped, or fails when the ``CI`` environment
variable is set. :func:`inside` switches the trio thread into one, so that the sockets
created meanwhile live there. :func:`limit_rate` slows a namespace's ``lo`` down, so
that sends wait for room in the socket's send buffer.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from conftest import IN_CI, require_tool, unavailable

_CLONE_NEWNET = 0x40000000
_names = itertools.count()


def ip(*args: str) -> None:
    """Run ``ip ARGS``; raise on failure."""
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def network_namespace(prefix: str) -> Iterator[str]:
    """A fresh namespace named *prefix*, pid and a counter, with ``lo`` up."""
    name = f"{prefix}{os.getpid()}x{next(_names)}"
    reason = None
    if shutil.which("ip") is None:
        reason = "the ip command is not installed (Debian package iproute2)"
    else:
        try:
            ip("netns", "add", name)
        except (subprocess.CalledProcessError, OSError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            reason = f"cannot create a network namespace: {stderr.decode().strip() or exc}"
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}; CI must be able to run these tests (as root)")
        pytest.skip(reason)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def limit_rate(name: str, rate: str) -> None:
    """Send what leaves ``lo`` in namespace *name* through a token bucket of *rate*
    (``tc``'s ``tbf``, e.g. ``"2mbit"``), queueing up to 5 s of it: a datagram the
    kernel took then holds its socket's send buffer until it leaves, so a sender
    faster than *rate* finds the buffer full (``EAGAIN``) and waits for room, as it
    does on any link slower than the application."""
    tc = require_tool("tc")
    command = f"qdisc add dev lo root tbf rate {rate} burst 10kb latency 5s"
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, tc, *command.split()],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except subprocess.CalledProcessError as exc:  # a kernel without the tbf qdisc
        unavailable(f"cannot limit the rate of lo: {exc.stderr.decode().strip()}")


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """Create sockets (and look up interfaces) in namespace *name* until the block ends.

    ``setns(2)`` switches this thread, trio's; sockets keep their namespace afterwards.
    Nothing in the block may start a worker thread (``trio.to_thread``, a process, the
    system resolver): it would stay in the namespace. IP literals and numeric ports
    resolve without one.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the test namespace failed")
        try:
            yield
        finally:
            if libc.setns(original, _CLONE_NEWNET) != 0:  # pragma: no cover
                raise OSError(ctypes.get_errno(), "setns back to the original namespace")
    finally:
        os.close(target)
        os.close(original)


@contextlib.contextmanager
def two_links() -> Iterator[tuple[str, str]]:
    """Namespaces A and B joined by two links: ``a0`` (fe80::a) - ``b0`` (fe80::b) and
    ``c0`` (fe80::c) - ``d0`` (fe80::d). The links have only these link-local addresses
    (no automatic ones) and no DAD, so each is usable at once and is the only address
    of its interface."""
    with network_namespace("tsla") as a, network_namespace("tslb") as b:
        for near, far in (("a0", "b0"), ("c0", "d0")):
            ip("-n", a, "link", "add", near, "type", "veth", "peer", "name", far, "netns", b)
        for name, device, address in (
            (a, "a0", "fe80::a"),
            (b, "b0", "fe80::b"),
            (a, "c0", "fe80::c"),
            (b, "d0", "fe80::d"),
        ):
            ip("-n", name, "link", "set", device, "addrgenmode", "none")
            ip("-n", name, "addr", "add", f"{address}/64", "dev", device, "nodad")
            ip("-n", name, "link", "set", device, "up")
        yield a, b

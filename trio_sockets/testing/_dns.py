"""A real DNS server for tests: dnsmasq on loopback, with the records you give it.

:class:`DnsServer` is an async context manager::

    async with DnsServer(srv=[SrvRecord("_echo._tcp.example.test", "a.example.test", 7001)],
                         hosts={"a.example.test": ["127.0.0.1"]}) as server:
        resolver = server.resolver()

dnsmasq (Debian package ``dnsmasq-base``) runs in the foreground on 127.0.0.1 at a free
high port, with a configuration of its own: it reads no ``/etc/hosts``, no
``/etc/resolv.conf``, forwards nothing, and answers NXDOMAIN for unknown names in its
domain. It is stopped by its process id, and, on an unprivileged port (the default),
also ends with the thread that started it if that ends first: a test process killed
mid-run leaves no server behind, nor its files (its directory in the temporary
directory is removed as soon as dnsmasq has started). The pytest
plugin offers it as the ``dns_server`` fixture.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import trio

from .._core.checks import check_int, describe, shown
from .._core.hostname import HostName
from .._io.resolver import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT, Resolver

__all__ = ["DnsServer", "DnsServerError", "SrvRecord"]

#: prctl(2) option: the signal a child gets when its parent (thread) ends.
_PR_SET_PDEATHSIG = 1
#: The Debian package that provides the ``dnsmasq`` program.
DNSMASQ_PACKAGE = "dnsmasq-base"
#: Seconds to wait for dnsmasq to answer its first query, and for it to exit.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
#: How many free ports are tried when another program takes the chosen one first.
START_ATTEMPTS = 3


def _unprivileged(directory: Path, port: int) -> dict[str, Any]:
    """The ``Popen`` options that start dnsmasq as ``nobody`` when this process is root
    and *port* needs no privilege, with *directory* readable to it: then dnsmasq need
    not drop root itself, which would cancel :func:`_end_with_parent`'s request (Linux
    clears it when a process changes its user). On a privileged port (53, for the
    system resolver in a private namespace) dnsmasq starts as root and drops it itself,
    and :meth:`DnsServer.stop` alone ends it."""
    if os.geteuid() != 0 or port < _unprivileged_port_start():
        return {}
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:  # pragma: no cover - every Debian system has nobody
        return {}
    directory.chmod(0o755)
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _unprivileged_port_start() -> int:
    """The lowest port a process without privilege may bind (Linux's sysctl)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):  # pragma: no cover - every Linux since 4.11 has it
        return 1024


def _end_with_parent(parent: int) -> Callable[[], None]:
    """What the child runs before dnsmasq (as its user: after ``setuid``): ask Linux to
    send it ``SIGTERM`` when the thread that started it ends, so that a test process
    killed before ``stop()`` leaves no server behind (``PR_SET_PDEATHSIG``); and end at
    once if *parent* has already gone. The C function is looked up here, in the parent:
    the forked child of a threaded process must not load libraries."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return in_child


class DnsServerError(RuntimeError):
    """dnsmasq is missing, or did not start (the message has its error output)."""


@dataclass(frozen=True)
class SrvRecord:
    """One DNS SRV record (RFC 2782).

    *name* is the owner name (``"_echo._tcp.example.test"``); *target* the host that
    offers the service, or ``"."`` for "decidedly not available" (then *port*, *priority*
    and *weight* are not published). Names may be Unicode;
    they are published in their IDNA (``xn--``) form.
    """

    name: str
    target: str
    port: int = 0
    priority: int = 0
    weight: int = 0

    def __post_init__(self) -> None:
        for what, value, top in (
            ("port", self.port, 65535),
            ("priority", self.priority, 65535),
            ("weight", self.weight, 65535),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                raise ValueError(f"SRV {what} must be an int in 0..{top}, not {shown(value)}")


def _dns_name(text: str) -> str:
    """*text* as dnsmasq must see it: IDNA A-labels, validated (no commas, no newlines)."""
    if text == ".":
        return text
    return HostName(text).canonical_name


def _txt(name: str, text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"TXT text of {shown(name)} must be a str, not {describe(text)}")
    if not text.isprintable():
        raise ValueError(f"TXT text must be printable, not {shown(text)}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class DnsServer:
    """A dnsmasq DNS server on 127.0.0.1 that publishes the given records.

    Args:
        srv: SRV records.
        hosts: host name → its IPv4 and IPv6 addresses (A and AAAA records).
        txt: name → TXT text.
        cname: alias → canonical name.
        domain: the zone dnsmasq answers for; unknown names in it are NXDOMAIN, names
            outside it are refused. The default ``"test"`` (RFC 6761) covers every
            ``*.test`` name.
        port: the port to serve on; ``0`` (the default) picks a free high port, and
            :attr:`port` reads the chosen one once the server runs.
        dnsmasq: the program; ``None`` looks ``dnsmasq`` up on ``PATH``.

    Use it as ``async with DnsServer(...) as server:``, or call :meth:`start` and
    :meth:`stop`.

    Raises:
        TypeError: an argument or a record of the wrong type (an address that is not a
            str, bytes included); the message names it.
        ValueError: a record that is not valid, or a port out of 0..65535.
    """

    srv: Sequence[SrvRecord] = ()
    hosts: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    txt: Mapping[str, str] = field(default_factory=dict)
    cname: Mapping[str, str] = field(default_factory=dict)
    domain: str = "test"
    port: int = 0
    dnsmasq: str | None = None
    _process: trio.Process | None = field(default=None, init=False, repr=False)
    _directory: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_int("DnsServer port", self.port, 0, 65535)
        for what, value in (("hosts", self.hosts), ("txt", self.txt), ("cname", self.cname)):
            if not isinstance(value, Mapping):
                raise TypeError(f"DnsServer {what} must be a mapping, not {describe(value)}")
        self._config_lines = self._records()

    @property
    def host(self) -> str:
        """The address dnsmasq listens on: ``"127.0.0.1"``."""
        return "127.0.0.1"

    def resolver(
        self, *, timeout: float = DEFAULT_TIMEOUT, attempts: int = DEFAULT_ATTEMPTS
    ) -> Resolver:
        """A :class:`~trio_sockets.Resolver` that asks this server (and nothing else).

        Raises:
            RuntimeError: the server is not running.
        """
        if self._process is None:
            raise RuntimeError("the DNS server is not running: start it first")
        return Resolver([self.host], self.port, timeout=timeout, attempts=attempts)

    def _records(self) -> list[str]:
        lines = [f"local=/{_dns_name(self.domain)}/"]
        for record in self.srv:
            if not isinstance(record, SrvRecord):
                raise TypeError(f"srv must hold SrvRecord objects, not {shown(record)}")
            name = _dns_name(record.name)
            if record.target == ".":
                # dnsmasq publishes an srv-host without a target as target "." (with a
                # port and priority of its own choosing: RFC 2782 gives them no meaning).
                lines.append(f"srv-host={name}")
            else:
                lines.append(
                    f"srv-host={name},{_dns_name(record.target)},{record.port},"
                    f"{record.priority},{record.weight}"
                )
        for host, addresses in self.hosts.items():
            # One line per address: a host-record line holds one address per family.
            name = _dns_name(host)
            lines += [f"host-record={name},{address}" for address in _addresses(host, addresses)]
        for name, text in self.txt.items():
            lines.append(f"txt-record={_dns_name(name)},{_txt(name, text)}")
        for alias, target in self.cname.items():
            lines.append(f"cname={_dns_name(alias)},{_dns_name(target)}")
        return lines

    def _config(self, port: int) -> str:
        return "\n".join(
            [
                f"port={port}",
                "listen-address=127.0.0.1",
                "bind-interfaces",
                "no-resolv",
                "no-hosts",
                "no-poll",
                "pid-file=",
                "log-facility=-",
                "domain-needed",
                *self._config_lines,
                "",
            ]
        )

    async def start(self) -> None:
        """Start dnsmasq and wait (at most ``START_TIMEOUT`` seconds) until it answers.

        Raises:
            DnsServerError: dnsmasq is not installed, exited, or did not answer in time.

        Cancellation: dnsmasq is stopped again.
        """
        if self._process is not None:
            raise RuntimeError("the DNS server is already running")
        program = self.dnsmasq or shutil.which("dnsmasq")
        if program is None:
            raise DnsServerError(f"dnsmasq is not installed (Debian package {DNSMASQ_PACKAGE})")
        self._directory = Path(tempfile.mkdtemp(prefix="trio-sockets-dns-"))
        fixed = self.port
        try:
            for attempt in range(1 if fixed else START_ATTEMPTS):
                port = fixed or _free_port()
                if await self._launch(
                    program, port, last=bool(fixed) or attempt == START_ATTEMPTS - 1
                ):
                    self.port = port
                    # dnsmasq has read its configuration (it reads no file again:
                    # no-poll) and writes its log through the descriptor it was given:
                    # from now on a test process killed before stop() leaves no files.
                    self._remove_directory()
                    return
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.stop()
            raise

    async def _launch(self, program: str, port: int, *, last: bool) -> bool:
        assert self._directory is not None
        config = self._directory / "dnsmasq.conf"
        config.write_text(self._config(port))
        log = self._directory / "dnsmasq.log"
        with log.open("wb") as log_file:
            self._process = await trio.lowlevel.open_process(
                [program, "--keep-in-foreground", f"--conf-file={config}"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=_end_with_parent(os.getpid()),
                **_unprivileged(self._directory, port),
            )
        process = self._process
        with trio.move_on_after(START_TIMEOUT):
            while process.returncode is None:
                if await _answers(port):
                    return True
                await trio.sleep(0.01)
            # dnsmasq exited: most likely another program took the port first.
            self._process = None
            if not last:
                return False
            raise DnsServerError(
                f"dnsmasq exited with status {process.returncode}: "
                f"{log.read_text(errors='replace').strip()}"
            )
        raise DnsServerError(
            f"dnsmasq did not answer on 127.0.0.1:{port} within {START_TIMEOUT} s: "
            f"{log.read_text(errors='replace').strip()}"
        )

    async def stop(self) -> None:
        """Stop dnsmasq (terminate, wait at most ``STOP_TIMEOUT`` seconds, then kill).

        Idempotent. Cancellation: dnsmasq is still stopped (the wait is shielded).
        """
        process, self._process = self._process, None
        with trio.CancelScope(shield=True):
            if process is not None and process.returncode is None:
                process.terminate()
                with trio.move_on_after(STOP_TIMEOUT):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            self._remove_directory()

    def _remove_directory(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _free_port() -> int:
    """A high port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise DnsServerError("no port is free for both UDP and TCP on 127.0.0.1")


async def _answers(port: int) -> bool:
    """Whether a DNS server on 127.0.0.1:*port* answers a query (within 50 ms)."""
    import dns.asyncquery
    import dns.exception
    import dns.message

    query = dns.message.make_query("ready.invalid.", "A")
    try:
        await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=0.05)
    except (dns.exception.DNSException, OSError):
        return False
    return True


def _addresses(host: str, addresses: str | Sequence[str]) -> list[str]:
    """The addresses given for *host* (one str, or a sequence of them) as records hold
    them. Only str is taken: bytes would be read as a sequence of ints, and an int as
    an IPv4 address, both silently wrong."""
    given: object = addresses  # checked as the caller's value, whatever the annotation says
    if isinstance(addresses, str):
        addresses = [addresses]
    elif not isinstance(given, Sequence) or isinstance(given, (bytes, bytearray)):
        raise TypeError(
            f"host {shown(host)}: addresses must be a str or a sequence of str, "
            f"not {describe(addresses)}"
        )
    checked = [_record_address(host, address) for address in addresses]
    if not checked:
        raise ValueError(f"host {shown(host)} has no address")
    return checked


def _record_address(host: str, address: str) -> str:
    """*address* as an A or AAAA record holds it; a zone (``fe80::1%eth0``) is refused:
    records carry none, and dnsmasq would read the text as another name."""
    if not isinstance(address, str):
        raise TypeError(f"host {shown(host)}: an address must be a str, not {describe(address)}")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"host {shown(host)}: address {shown(address)} is not an IPv4 or IPv6 address"
        ) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        raise ValueError(
            f"host {shown(host)}: address {shown(address)} has a zone (%{ip.scope_id}), "
            "which DNS records cannot carry"
        )
    return str(ip)

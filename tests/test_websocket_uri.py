"""The URI a WebSocket client connects to: what goes to DNS, to the socket and onto the
request line, against a raw listener on loopback that records the request it gets and
dnsmasq on 127.0.0.1 for names; and the parsing alone (trio_sockets._websockets.uri),
with hypothesis."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import urllib.parse
from collections.abc import AsyncIterator

import pytest
import trio
from conftest import free_tcp_port
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from trio_sockets import (
    HostName,
    InvalidHostNameError,
    MessageWebSocket,
    Resolver,
    StreamWebSocket,
    WebSocketStatusError,
)
from trio_sockets._websockets.uri import parse_websocket_uri, shown_uri
from trio_sockets.testing import DnsServer

_HEAD_LIMIT = 65536


class Catcher:
    """A TCP listener that records the request head of each connection, then closes it
    (the client's handshake then fails)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.heads: list[bytes] = []

    def request_line(self) -> bytes:
        assert len(self.heads) == 1, self.heads
        return self.heads[0].split(b"\r\n")[0]

    def header(self, name: bytes) -> bytes:
        assert len(self.heads) == 1, self.heads
        values = [
            line.partition(b":")[2].strip()
            for line in self.heads[0].split(b"\r\n")[1:]
            if line.partition(b":")[0].strip().lower() == name.lower()
        ]
        assert len(values) == 1, (name, self.heads)
        return values[0]


@contextlib.asynccontextmanager
async def catcher(host: str = "127.0.0.1") -> AsyncIterator[Catcher]:
    listener = (await trio.open_tcp_listeners(0, host=host))[0]
    caught = Catcher(listener.socket.getsockname()[1])

    async def serve() -> None:
        while True:
            stream = await listener.accept()
            async with stream:
                data = b""
                with trio.move_on_after(5):
                    while b"\r\n\r\n" not in data and len(data) < _HEAD_LIMIT:
                        chunk = await stream.receive_some(_HEAD_LIMIT)
                        if not chunk:
                            break
                        data += chunk
                caught.heads.append(data)

    async with listener, trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield caught
        nursery.cancel_scope.cancel()


async def send_request(uri: str, resolver: Resolver | None = None) -> None:
    """Connect to *uri*, whose server (a Catcher) ends the handshake."""
    async with MessageWebSocket(resolver=resolver) as ws:
        ws.control.handshake_timeout = 5
        with trio.fail_after(10), pytest.raises(WebSocketStatusError):
            await ws.connect(uri)


async def refused(uri: str, error: type[Exception] = ValueError) -> str:
    """The message of the error connecting to *uri* raises, before any name lookup (the
    resolver's server never answers)."""
    silent = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with silent:
        await silent.bind(("127.0.0.1", 0))
        resolver = Resolver(["127.0.0.1"], silent.getsockname()[1], timeout=5, attempts=1)
        for kind in (MessageWebSocket, StreamWebSocket):
            async with kind(resolver=resolver) as ws:
                with trio.fail_after(2), pytest.raises(error) as caught:
                    await ws.connect(uri)
                assert "uri" in str(caught.value)
        assert await _nothing_asked(silent)
    return str(caught.value)


async def _nothing_asked(silent: trio.socket.SocketType) -> bool:
    with trio.move_on_after(0.05):
        await silent.recvfrom(512)
        return False
    return True


# -- the host --------------------------------------------------------------------------


async def test_a_unicode_host_is_the_name_hostname_makes_for_dns_and_host() -> None:
    """``straße.test`` is ``xn--strae-oqa.test`` (IDNA 2008, UTS 46 nontransitional) as
    for a StreamSocket, not IDNA 2003's ``strasse.test``."""
    async with (
        catcher() as server,
        DnsServer(hosts={"straße.test": "127.0.0.1", "strasse.test": "127.0.0.2"}) as dns,
    ):
        await send_request(f"ws://straße.test:{server.port}/chat", dns.resolver())
        assert server.request_line() == b"GET /chat HTTP/1.1"
        assert server.header(b"host") == f"xn--strae-oqa.test:{server.port}".encode()


@pytest.mark.parametrize(
    "host", ["a\u200db.test", "127.1", "a..test", "-a.test", "\uff0e\uff0e", "a%00b.test"]
)
async def test_a_host_that_hostname_refuses_is_refused_before_any_lookup(host: str) -> None:
    with pytest.raises(InvalidHostNameError) as caught:
        HostName(host.replace("%00", "\x00"))
    message = await refused(f"ws://{host}:8080/", InvalidHostNameError)
    assert caught.value.reason in message


@pytest.mark.parametrize("uri", ["ws://[v1.x]:8080/", "ws://[V7.localhost]/", "wss://[127.0.0.1]/"])
async def test_anything_but_ipv6_in_brackets_is_refused(uri: str) -> None:
    assert "brackets" in await refused(uri, InvalidHostNameError)


async def test_an_rfc_6874_zone_is_percent_decoded_and_not_sent_in_host() -> None:
    index = socket.if_nametoindex("lo")
    async with catcher("::1") as server:
        for zone in ("%25lo", f"%25{index}", "%lo"):
            server.heads.clear()
            await send_request(f"ws://[::1{zone}]:{server.port}/")
            assert server.header(b"host") == f"[::1]:{server.port}".encode()


@pytest.mark.parametrize(
    "port", ["0", "00", "65536", "99999", "1" * 5000, "-1", "+80", "\uff18\uff10"]
)
async def test_a_port_outside_1_to_65535_is_refused(port: str) -> None:
    assert "port" in await refused(f"ws://127.0.0.1:{port}/")


# -- the path and query ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/chat\r\nX-Injected: evil",
        "/tab\there",
        "/lf\n",
        "/nul\x00byte",
        "/esc\x1b[31m",
        "/del\x7f",
        "/vt\x0bff\x0c",
        "/c1\x85",
        "/?q=\r\n",
    ],
)
async def test_control_characters_are_refused_before_connecting(path: str) -> None:
    async with catcher() as server:
        message = await refused(f"ws://127.0.0.1:{server.port}{path}")
        assert "control character" in message
        assert len(message) < 400
    assert server.heads == []


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/a b", b"/a%20b"),
        ("/x HTTP/1.0", b"/x%20HTTP/1.0"),
        ('/?q="<>"', b"/?q=%22%3C%3E%22"),
        ("/café?q=é ü", b"/caf%C3%A9?q=%C3%A9%20%C3%BC"),
        ("/100%", b"/100%25"),
        ("/%41%zz", b"/%41%25zz"),
        ("/a\\b^c`d{e|f}[g]", b"/a%5Cb%5Ec%60d%7Be%7Cf%7D%5Bg%5D"),
        ("/ok-._~!$&'()*+,;=:@/x?a=/?b", b"/ok-._~!$&'()*+,;=:@/x?a=/?b"),
        ("", b"/"),
        ("?x", b"/?x"),
        ("/\u2028\u00a0", b"/%E2%80%A8%C2%A0"),
    ],
)
async def test_what_a_uri_may_not_hold_is_percent_encoded(path: str, sent: bytes) -> None:
    async with catcher() as server:
        await send_request(f"ws://127.0.0.1:{server.port}{path}")
    assert server.request_line() == b"GET " + sent + b" HTTP/1.1"


async def test_a_fragment_is_refused() -> None:
    assert "#" in await refused("ws://127.0.0.1:8080/chat#part")


# -- the user info ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["s3cr/et", "s3cr?et", "s3cr#et", "s3c@r/et", "80/s3cret", "/s3cret", "s3cr:et", "s3cr@et"],
)
async def test_a_password_is_never_shown(password: str) -> None:
    # Some of these are, by RFC 3986, the host "alice" and a path: asked of a name
    # server that never answers.
    silent = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with silent:
        await silent.bind(("127.0.0.1", 0))
        resolver = Resolver(["127.0.0.1"], silent.getsockname()[1], timeout=0.2, attempts=1)
        async with MessageWebSocket(resolver=resolver) as ws:
            with trio.fail_after(5), pytest.raises((ValueError, WebSocketStatusError)) as caught:
                await ws.connect(f"ws://alice:{password}@127.0.0.1:{free_tcp_port()}/")
            for text in (str(caught.value), repr(ws)):
                assert "s3c" not in text
                assert "et@" not in text


async def test_percent_encoded_user_info_is_decoded_for_basic_authentication() -> None:
    async with catcher() as server:
        await send_request(f"ws://a%40b:c%3Ad%2F%C3%A9@127.0.0.1:{server.port}/")
    expected = base64.b64encode("a@b:c:d/é".encode()).decode()
    assert server.header(b"authorization") == f"Basic {expected}".encode()


@pytest.mark.parametrize(
    ("user_info", "named"),
    [
        ("a%3Ab:c%40d", "':'"),  # a user name with ':' cannot be sent as Basic
        ("us\ud800er:pw", "surrogate"),
        ("user:p%FFw", "UTF-8"),
        ("user:p%0Aw", "control character"),
        ("user", "password"),
    ],
)
async def test_user_info_basic_cannot_send_is_refused_before_connecting(
    user_info: str, named: str
) -> None:
    async with catcher() as server:
        message = await refused(f"ws://{user_info}@127.0.0.1:{server.port}/")
        assert named in message
        assert "pw" not in message
        assert "c%40d" not in message
    assert server.heads == []


# -- the parsing alone -----------------------------------------------------------------

_MARK = "\u2603"  # in every generated password, and nowhere else
_TEXT = st.text(st.characters(exclude_characters=_MARK), max_size=12)
_HOSTS = ["127.0.0.1", "[::1]", "[::1%25lo]", "[fe80::1%lo]", "example.test", "bücher.test"]
_PORTS = st.one_of(st.just(""), st.integers(0, 70000).map(lambda port: f":{port}"))


@given(
    scheme=st.sampled_from(["ws", "wss", "WS", "http", ""]),
    user=_TEXT.filter(lambda user: ":" not in user),
    password=st.builds(lambda a, b: a + _MARK + b, st.text(), st.text()),
    host=st.sampled_from(_HOSTS) | _TEXT,
    port=_PORTS,
    path=st.text(max_size=12),
)
@settings(max_examples=500)
@example(scheme="ws", user="alice", password=f"1/{_MARK}", host="127.0.0.1", port="", path="/")
@example(scheme="ws", user="alice", password=f"x@{_MARK}/", host="127.0.0.1", port="", path="/")
@example(scheme="ws", user="[", password=f"]{_MARK}", host="127.0.0.1", port="", path="/")
def test_no_password_is_ever_shown(
    scheme: str, user: str, password: str, host: str, port: str, path: str
) -> None:
    uri = f"{scheme}://{user}:{password}@{host}{port}{path}"
    encoded = urllib.parse.quote(_MARK)
    assert _MARK not in shown_uri(uri)
    try:
        target = parse_websocket_uri(uri)
    except ValueError as error:
        texts = (str(error),)
    else:
        texts = (repr(target), target.shown, target.host.canonical_name)
    for text in texts:
        assert _MARK not in text
        assert encoded not in text


@pytest.mark.parametrize(
    ("uri", "piece"),
    [
        # An unencoded "/" ends the authority inside the password: its start reads
        # as the port, and here it also stands in the host that the shown URI keeps.
        ("ws://alice:st.test/xyz@host.test/", "st.test"),
        ("ws://alice:ho/Secret@host.test/", "ho"),
        ("ws://alice:s/ecret@hosts.test/", "s"),
    ],
)
def test_a_piece_of_the_password_is_never_quoted(uri: str, piece: str) -> None:
    with pytest.raises(ValueError, match="the port must be") as caught:
        parse_websocket_uri(uri)
    assert f"{piece!r}" not in str(caught.value)
    assert "Secret" not in str(caught.value)


async def test_a_uri_of_another_type_is_named_by_its_type_alone() -> None:
    """A bytes URI (or any object whose repr shows one) may carry a password."""
    for uri in (b"ws://alice:Secret@127.0.0.1:1/", bytearray(b"ws://alice:Secret@h/")):
        with pytest.raises(TypeError, match=r"^uri must be a str, not (bytes|bytearray)$"):
            parse_websocket_uri(uri)
        async with MessageWebSocket() as ws:
            with pytest.raises(TypeError) as caught:
                await ws.connect(uri)  # type: ignore[arg-type]
            assert "Secret" not in str(caught.value)


@given(
    user=st.text(max_size=8),
    password=st.text(max_size=8),
    host=st.sampled_from(_HOSTS),
    port=st.integers(1, 65535) | st.none(),
    path=st.text(st.characters(exclude_characters="%?#"), max_size=12),
    query=st.text(st.characters(exclude_characters="%#"), max_size=12) | st.none(),
)
@settings(max_examples=300)
def test_what_parses_is_what_was_written_and_sendable(
    user: str, password: str, host: str, port: int | None, path: str, query: str | None
) -> None:
    quoted = urllib.parse.quote(user, safe="") + ":" + urllib.parse.quote(password, safe="")
    uri = f"ws://{quoted}@{host}{'' if port is None else f':{port}'}/{path}"
    uri += "" if query is None else f"?{query}"
    sendable = all(c >= " " and not "\x7f" <= c <= "\x9f" for c in user + password + path)
    sendable &= not re.search("[\x00-\x1f\x7f-\x9f\ud800-\udfff]", uri)
    if not sendable or ":" in user or "@" in path + (query or ""):
        with pytest.raises(ValueError, match="uri"):
            parse_websocket_uri(uri)
        return
    target = parse_websocket_uri(uri)
    assert target.user_info == (user, password)
    assert target.port == (80 if port is None else port)
    assert target.host == HostName(host.replace("%25", "%"))
    assert urllib.parse.unquote(target.path) == f"/{path}"
    assert urllib.parse.unquote(target.query) == (query or "")
    for part in (target.path, target.query):
        assert re.fullmatch(r"[!-~]*", part), part  # printable ASCII: no space, no control
    assert "%" not in target.protocol_uri().host


@given(host=st.text(st.characters(exclude_characters="/?#@:[]%"), min_size=1, max_size=20))
@settings(max_examples=300)
def test_the_host_is_the_one_hostname_makes_or_its_error(host: str) -> None:
    assume(not re.search("[\x00-\x1f\x7f-\x9f\ud800-\udfff]", host))
    uri = f"wss://{host}/"
    try:
        expected = HostName(host)
    except InvalidHostNameError as error:
        with pytest.raises(InvalidHostNameError) as caught:
            parse_websocket_uri(uri)
        assert caught.value.reason.startswith(error.reason)  # noqa: PT017
        return
    target = parse_websocket_uri(uri)
    assert target.host == expected
    assert target.port == 443
    assert target.protocol_uri().host == expected.canonical_name


@given(
    uri=st.sampled_from(["ws://u:p@127.0.0.1:8080/a?b", "wss://[::1%25lo]/", "ws://bücher.test"]),
    at=st.integers(0, 40),
    control=st.characters(categories=["Cc", "Cs"]),
)
def test_a_control_character_anywhere_is_refused(uri: str, at: int, control: str) -> None:
    with pytest.raises(ValueError, match=r"control character|surrogate"):
        parse_websocket_uri(uri[:at] + control + uri[at:])


@pytest.mark.parametrize(
    ("uri", "port", "host_header"),
    [
        ("ws://h.test", 80, "h.test"),
        ("ws://h.test:/", 80, "h.test"),
        ("wss://h.test:0443/", 443, "h.test"),
        ("WSS://H.Test:8443", 8443, "h.test"),
        ("ws://[::1%25eth%2E0]:1/", 1, "::1"),
        ("ws://%62%C3%BCcher.test/", 80, "xn--bcher-kva.test"),
        ("ws://127.0.0.1./", 80, "127.0.0.1"),
    ],
)
def test_ports_and_hosts(uri: str, port: int, host_header: str) -> None:
    target = parse_websocket_uri(uri)
    assert (target.port, target.protocol_uri().host) == (port, host_header)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("ws://alice:s3cret@h.test/", "ws://alice:***@h.test/"),
        ("ws://alice:s3/c?r#e@t@h.test/", "ws://alice:***@h.test/"),
        ("alice:s3cret@h.test", "alice:***@h.test"),
        ("ws://h.test:8080/users/@me", "ws://h.test:***@me"),  # the price of the above
        ("ws://h.test:8080/a", "ws://h.test:8080/a"),
        ("ws://alice@h.test:8080/", "ws://alice@h.test:8080/"),
    ],
)
def test_shown_uri(uri: str, shown: str) -> None:
    assert shown_uri(uri) == shown


@pytest.mark.parametrize(
    "uri",
    [
        "ws://%3A%3A1/",  # an IPv6 address out of brackets, percent-encoded
        "ws://::1/",
        "ws://[::1/",
        "ws://[::1]x/",
        "ws:///path",
        "ws:/h.test/",
        "ws://[::1%25]/",
        "ws://h%FF.test/",
        "ws://u:p@h.test/@x",  # an '@' after the user info: whose password is it?
    ],
)
def test_malformed_authorities_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="uri"):
        parse_websocket_uri(uri)

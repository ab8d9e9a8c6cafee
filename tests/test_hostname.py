"""HostName, EndpointPair and service-name parsing: pure validation, no I/O."""

from __future__ import annotations

import copy
import ipaddress
import pickle
import re

import pytest
import trio
from hypothesis import example, given
from hypothesis import strategies as st

from trio_sockets import Resolver, StreamSocket, StreamSocketListener
from trio_sockets._core.endpoint import EndpointPair, split_remote
from trio_sockets._core.enums import HostNameType
from trio_sockets._core.hostname import HostName, InvalidHostNameError, coerce_host_name
from trio_sockets._core.service_name import parse_service_name

D, V4, V6 = HostNameType.DOMAIN_NAME, HostNameType.IPV4, HostNameType.IPV6

# (raw, canonical, display, type)
ACCEPTED = [
    ("example.com", "example.com", "example.com", D),
    ("Example.COM", "example.com", "example.com", D),
    ("example.com.", "example.com", "example.com", D),
    ("localhost", "localhost", "localhost", D),
    ("a", "a", "a", D),
    ("a-b.c-d", "a-b.c-d", "a-b.c-d", D),
    (
        "r3---sn-abc.googlevideo.com",
        "r3---sn-abc.googlevideo.com",
        "r3---sn-abc.googlevideo.com",
        D,
    ),
    ("_sip._tcp.Example.com", "_sip._tcp.example.com", "_sip._tcp.example.com", D),
    ("foo_bar.example", "foo_bar.example", "foo_bar.example", D),
    ("_", "_", "_", D),
    ("1a", "1a", "1a", D),
    ("123.example", "123.example", "123.example", D),
    ("host.0xg", "host.0xg", "host.0xg", D),
    ("Bücher.de", "xn--bcher-kva.de", "bücher.de", D),
    ("BÜCHER.DE.", "xn--bcher-kva.de", "bücher.de", D),
    ("xn--bcher-kva.de", "xn--bcher-kva.de", "bücher.de", D),
    ("XN--BCHER-KVA.de", "xn--bcher-kva.de", "bücher.de", D),
    ("faß.de", "xn--fa-hia.de", "faß.de", D),
    ("例え.テスト", "xn--r8jz45g.xn--zckzah", "例え.テスト", D),
    ("sub.例え.jp", "sub.xn--r8jz45g.jp", "sub.例え.jp", D),
    ("_srv.bücher.de", "_srv.xn--bcher-kva.de", "_srv.bücher.de", D),
    ("example\u3002com", "example.com", "example.com", D),  # ideographic full stop
    ("\uff25\uff38.com", "ex.com", "ex.com", D),  # full-width letters
    ("1.2.3.4", "1.2.3.4", "1.2.3.4", V4),
    ("0.0.0.0", "0.0.0.0", "0.0.0.0", V4),
    ("255.255.255.255", "255.255.255.255", "255.255.255.255", V4),
    ("127.0.0.1", "127.0.0.1", "127.0.0.1", V4),
    ("::1", "::1", "::1", V6),
    ("0:0::1", "::1", "::1", V6),
    ("0:0:0:0:0:0:0:1", "::1", "::1", V6),
    ("::", "::", "::", V6),
    ("[::1]", "::1", "::1", V6),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", "2001:db8::1", V6),
    ("2001:db8::0:1", "2001:db8::1", "2001:db8::1", V6),
    ("fe80::1%eth0", "fe80::1%eth0", "fe80::1%eth0", V6),
    ("[fe80::1%eth0]", "fe80::1%eth0", "fe80::1%eth0", V6),
    ("FE80:0::1%2", "fe80::1%2", "fe80::1%2", V6),
    ("fe80::1%4294967295", "fe80::1%4294967295", "fe80::1%4294967295", V6),
    ("fe80::1%eth0.100", "fe80::1%eth0.100", "fe80::1%eth0.100", V6),
    ("::ffff:1.2.3.4", "::ffff:1.2.3.4", "::ffff:1.2.3.4", V6),
    ("::ffff:102:304", "::ffff:1.2.3.4", "::ffff:1.2.3.4", V6),
    ("64:ff9b::1.2.3.4", "64:ff9b::102:304", "64:ff9b::102:304", V6),
]

# (raw, pattern the message must match after "invalid host name <repr>: ")
REJECTED = [
    ("", "cannot be empty"),
    (" ", "cannot be empty"),
    ("\t\n", "cannot be empty"),
    (" example.com", "character ' ' is not allowed"),
    ("example.com ", "character ' ' is not allowed"),
    ("exa mple.com", "character ' ' is not allowed"),
    ("exa\u3000mple.com", r"character '\\u3000' is not allowed"),
    ("a\x00b", r"character '\\x00' is not allowed"),
    ("a\x7fb", r"character '\\x7f' is not allowed"),
    ("a*b.com", "character '\\*' is not allowed"),
    ("a/b", "character '/' is not allowed"),
    ("a@b", "character '@' is not allowed"),
    ("example.com:80", "':' is not allowed.*service name"),
    (".", "at least one label"),
    ("a..b", "empty label"),
    ("..", "empty label"),
    (".example.com", "empty label"),
    ("example.com..", "empty label"),
    ("-a.com", "label '-a' starts or ends with a hyphen"),
    ("a-.com", "label 'a-' starts or ends with a hyphen"),
    ("a.-", "label '-' starts or ends with a hyphen"),
    ("x" * 64 + ".com", "64 octets long, at most 63"),
    ("xn--zz.com", "not a valid IDNA A-label"),
    ("xn--.com", "not a valid IDNA A-label"),
    ("a\u200db.com", "not a valid internationalised label"),
    ("\u2603.com", "not a valid internationalised label"),
    ("127.1", "ending in a number"),
    ("12", "ending in a number"),
    ("01.2.3.4", "ending in a number"),
    ("1.2.3.4..", "empty label"),
    ("127.1.", "ending in a number"),
    ("256.1.1.1", "ending in a number"),
    ("1.2.3.4.5", "ending in a number"),
    ("0x7f.1", "ending in a number"),
    ("0x7f000001", "ending in a number"),
    ("host.0x", "ending in a number"),
    ("example.123", "ending in a number"),
    # Full-width digits or ideographic full stops map to an IPv4 address: refused,
    # and the message says which address it would have been.
    ("\uff11.\uff12.\uff13.\uff14", r"ASCII digits and dots \(this is 1\.2\.3\.4\)"),
    ("127\u30020\u30020\u30021", r"ASCII digits and dots \(this is 127\.0\.0\.1\)"),
    ("1.2.3.4%eth0", "only IPv6 addresses may carry a %scope"),
    ("[1.2.3.4]", "only an IPv6 address may be written in brackets"),
    ("[example.com]", "only an IPv6 address may be written in brackets"),
    ("[]", "only an IPv6 address may be written in brackets"),
    ("[::1", "unbalanced brackets"),
    ("::1]", "unbalanced brackets"),
    ("[::1]8080", "unbalanced brackets"),
    # A bracketed address with its port, or its scope outside: says so.
    ("[::1]:8080", r"a port goes in the service name, not the host name \('::1', '8080'\)"),
    ("[fe80::1]%eth0", r"the %scope goes inside the brackets \('\[fe80::1%eth0\]'\)$"),
    (
        "[fe80::1]%eth0:80",
        r"brackets \('\[fe80::1%eth0\]'\), and a port in the service name \('80'\)",
    ),
    ("[[::1]]", "not a valid IPv6 address"),
    (":::1", "not a valid IPv6 address"),
    ("1::2::3", "not a valid IPv6 address"),
    ("12345::1", "not a valid IPv6 address"),
    ("00:11:22:33:44:55", "not a valid IPv6 address"),
    ("fe80::1%", "IPv6 scope '' must be"),
    ("fe80::1%a b", "IPv6 scope 'a b' must be"),
    ("fe80::1%a%b", "IPv6 scope 'a%b' must be"),
    ("fe80::1%" + "e" * 65, "IPv6 scope"),
    # A scope id is 32 bits: the socket module would wrap a larger one silently.
    ("fe80::1%4294967296", "IPv6 scope '4294967296' is over 4294967295"),
    ("ff02::1%" + "9" * 64, "is over 4294967295"),
    ("(00:11:22:33:44:55)", "Bluetooth host names are Windows-only"),
    ("(AA:BB:CC:DD:EE:FF)", "Bluetooth host names are Windows-only"),
]


@pytest.mark.parametrize(("raw", "canonical", "display", "kind"), ACCEPTED)
def test_accepted_forms(raw: str, canonical: str, display: str, kind: HostNameType) -> None:
    host = HostName(raw)
    assert host.raw_name == raw
    assert host.canonical_name == canonical
    assert host.display_name == display
    assert host.type is kind
    assert str(host) == display
    assert repr(host) == f"HostName({raw!r})"
    assert host.ip_information is None


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejected_forms(raw: str, reason: str) -> None:
    with pytest.raises(InvalidHostNameError, match=re.escape(f"invalid host name {raw!r}: ")):
        HostName(raw)
    with pytest.raises(InvalidHostNameError, match=reason) as info:
        HostName(raw)
    assert isinstance(info.value, ValueError)
    assert info.value.host_name == raw
    assert re.search(reason, info.value.reason)


@pytest.mark.parametrize("value", [None, b"example.com", 1, 1.5, ["a"], HostNameType.IPV4])
def test_non_str_is_type_error_naming_the_type(value: object) -> None:
    with pytest.raises(TypeError, match=f"host name must be a str, not {type(value).__name__}"):
        HostName(value)  # type: ignore[arg-type]


def test_a_host_name_is_not_a_str_either() -> None:
    with pytest.raises(TypeError, match="not HostName"):
        HostName(HostName("a"))  # type: ignore[arg-type]


def test_invalid_host_name_error_is_a_value_error() -> None:
    assert issubclass(InvalidHostNameError, ValueError)


def test_label_of_63_octets_is_the_longest_allowed() -> None:
    assert HostName("x" * 63).canonical_name == "x" * 63
    with pytest.raises(InvalidHostNameError, match="64 octets"):
        HostName("x" * 64)


def test_name_of_253_octets_is_the_longest_allowed() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert HostName(name).canonical_name == name
    assert HostName(name + ".").canonical_name == name
    with pytest.raises(InvalidHostNameError, match="254 octets long, at most 253"):
        HostName(name + "d")


def _cjk_label(length: int) -> str:
    return "".join(chr(0x4E00 + 97 * i) for i in range(length))


def test_label_length_is_counted_after_idna_encoding() -> None:
    # 22 characters give a 63-octet A-label, 23 one that is too long.
    assert len(HostName(_cjk_label(22)).canonical_name) == 63
    with pytest.raises(InvalidHostNameError, match=r"not a valid internationalised label.*long"):
        HostName(_cjk_label(23))


def test_name_length_is_counted_after_idna_encoding() -> None:
    name = ".".join([_cjk_label(12)] * 8)
    assert len(name) == 103
    with pytest.raises(InvalidHostNameError, match="271 octets long, at most 253"):
        HostName(name)


def test_trailing_dot_is_dropped_but_kept_in_raw_name() -> None:
    host = HostName("example.com.")
    assert host.raw_name == "example.com."
    assert host == HostName("example.com")


def test_a_dotted_quad_with_a_trailing_dot_is_that_address() -> None:
    """The absolute form of a dotted quad, as a domain name may end in a dot: the same
    IPv4 address, never sent to a resolver."""
    host = HostName("127.0.0.1.")
    assert host.type is HostNameType.IPV4
    assert host.ip_address == ipaddress.IPv4Address("127.0.0.1")
    assert host.canonical_name == host.display_name == "127.0.0.1"
    assert host.raw_name == "127.0.0.1."
    assert host == HostName("127.0.0.1")


async def test_a_dotted_quad_with_a_trailing_dot_connects_without_a_resolver() -> None:
    async with StreamSocketListener() as listener:
        await listener.bind_endpoint(HostName("127.0.0.1"), "0")
        port = listener.information.local_port
        with trio.fail_after(10):
            async with StreamSocket(resolver=Resolver(["127.0.0.1"], 9)) as client:
                await client.connect(HostName("127.0.0.1."), port)
                assert client.information.remote_address == HostName("127.0.0.1")


def test_a_huge_host_name_is_refused_with_a_short_message() -> None:
    raw = "a" * 10_000_000
    with pytest.raises(InvalidHostNameError) as info:
        HostName(raw)
    assert len(str(info.value)) < 300
    assert "10000000 characters" in str(info.value)
    assert info.value.host_name is raw


def test_an_ipv6_scope_index_compares_by_its_value() -> None:
    """``%01`` and ``%1`` name interface 1 alike; a name stays a name (which index it has
    depends on the machine, and may change)."""
    assert HostName("::1%01") == HostName("::1%1") == HostName("[::1%0001]")
    assert hash(HostName("::1%01")) == hash(HostName("::1%1"))
    assert HostName("fe80::1%007").canonical_name == "fe80::1%7"
    assert HostName("fe80::1%007").raw_name == "fe80::1%007"
    assert HostName("::1%lo") != HostName("::1%1")


def test_ip_address_of_each_kind() -> None:
    assert HostName("1.2.3.4").ip_address == ipaddress.IPv4Address("1.2.3.4")
    assert HostName("[::1]").ip_address == ipaddress.IPv6Address("::1")
    scoped = HostName("fe80::1%eth0").ip_address
    assert isinstance(scoped, ipaddress.IPv6Address)
    assert scoped.scope_id == "eth0"
    assert HostName("example.com").ip_address is None


def test_domain_names_are_equal_case_insensitively() -> None:
    assert HostName("Example.COM") == HostName("example.com.")
    assert HostName("Example.COM").is_equal(HostName("example.com"))
    assert HostName("bücher.de") == HostName("XN--BCHER-KVA.DE")


def test_ip_addresses_are_equal_by_value() -> None:
    assert HostName("::1") == HostName("0:0::1")
    assert HostName("[::1]").is_equal(HostName("0:0:0:0:0:0:0:1"))
    assert HostName("::ffff:1.2.3.4") == HostName("::ffff:102:304")


def test_different_hosts_are_not_equal() -> None:
    assert HostName("a.example") != HostName("b.example")
    assert HostName("fe80::1%eth0") != HostName("fe80::1%eth1")
    assert HostName("fe80::1%eth0") != HostName("fe80::1")
    assert HostName("::ffff:1.2.3.4") != HostName("1.2.3.4")
    assert not HostName("127.0.0.1").is_equal(HostName("localhost"))


def test_equality_with_other_types_is_false() -> None:
    assert HostName("example.com") != "example.com"
    assert HostName("example.com").__eq__("example.com") is NotImplemented


def test_is_equal_needs_a_host_name() -> None:
    with pytest.raises(TypeError, match="is_equal\\(\\) needs a HostName, not str"):
        HostName("a").is_equal("a")  # type: ignore[arg-type]


def test_host_names_work_in_sets_and_dicts() -> None:
    hosts = {HostName("::1"), HostName("0:0::1"), HostName("[::1]"), HostName("Example.com")}
    assert hosts == {HostName("::1"), HostName("example.com.")}
    table = {HostName("bücher.de"): 1}
    assert table[HostName("xn--bcher-kva.de")] == 1
    assert hash(HostName("A.example")) == hash(HostName("a.example."))


@pytest.mark.parametrize(
    ("value1", "value2", "sign"),
    [
        ("example.com", "EXAMPLE.com.", 0),
        ("::1", "0:0::1", 0),
        ("a.example", "b.example", -1),
        ("b.example", "a.example", 1),
        ("10.0.0.1", "9.0.0.1", -1),  # lexical, not numeric
        ("bücher.de", "xn--bcher-kva.de", 0),
    ],
)
def test_compare_orders_canonical_names(value1: str, value2: str, sign: int) -> None:
    result = HostName.compare(value1, value2)
    assert (result > 0) - (result < 0) == sign
    assert HostName.compare(HostName(value1), value2) == result


def test_host_names_survive_pickle_and_copy() -> None:
    host = HostName("Bücher.de")
    for clone in (pickle.loads(pickle.dumps(host)), copy.copy(host), copy.deepcopy(host)):
        assert clone == host
        assert clone.raw_name == "Bücher.de"
        assert clone.display_name == "bücher.de"


def test_compare_rejects_invalid_names() -> None:
    with pytest.raises(InvalidHostNameError, match=re.escape("invalid value2 'a..b'")):
        HostName.compare("a", "a..b")


@given(st.text())
@example("Bücher.de")
@example("[fe80::1%eth0]")
@example("::ffff:1.2.3.4")
@example("a\u00adb.com")
def test_any_text_parses_to_a_stable_host_name_or_raises_value_error(text: str) -> None:
    try:
        host = HostName(text)
    except ValueError:
        return
    again = HostName(host.canonical_name)
    assert again == host
    assert again.type is host.type
    assert again.canonical_name == host.canonical_name
    assert HostName(host.display_name) == host


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=30))
def test_any_unicode_label_parses_to_a_stable_host_name_or_raises_value_error(
    label: str,
) -> None:
    try:
        host = HostName(label + ".example")
    except ValueError:
        return
    assert HostName(host.canonical_name) == host
    assert HostName(host.display_name) == host
    assert host.canonical_name.isascii()


# --- coerce_host_name ------------------------------------------------------------------


def test_coerce_returns_a_host_name_unchanged() -> None:
    host = HostName("example.com")
    assert coerce_host_name(host, "remote_host_name") is host


def test_coerce_parses_a_str() -> None:
    assert coerce_host_name("::1", "remote_host_name") == HostName("0::1")


def test_coerce_names_the_parameter_for_an_invalid_str() -> None:
    with pytest.raises(
        InvalidHostNameError, match=re.escape("invalid remote_host_name 'a..b': empty label")
    ):
        coerce_host_name("a..b", "remote_host_name")


@pytest.mark.parametrize("value", [None, 1, b"a"])
def test_coerce_rejects_other_types_naming_the_parameter(value: object) -> None:
    with pytest.raises(
        TypeError, match=f"remote_host_name must be a HostName or a str, not {type(value).__name__}"
    ):
        coerce_host_name(value, "remote_host_name")  # type: ignore[arg-type]


# --- parse_service_name ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "local", "expected"),
    [
        ("1337", False, 1337),
        ("1", False, 1),
        ("65535", False, 65535),
        ("080", False, 80),
        ("1337", True, 1337),
        ("0", True, 0),
        ("", True, 0),
        ("65535", True, 65535),
        ("http", False, "http"),
        ("HTTP", True, "HTTP"),
        ("stun", False, "stun"),
        ("stun._service01", False, "stun._service01"),
        ("_sip._tls", False, "_sip._tls"),
        ("x-my_svc", False, "x-my_svc"),
        ("h2", False, "h2"),
        ("80a", False, "80a"),
        ("a" * 63, False, "a" * 63),
        ("a" * 63 + "." + "b" * 63, False, "a" * 63 + "." + "b" * 63),
    ],
)
def test_valid_service_names(value: str, local: bool, expected: int | str) -> None:
    assert parse_service_name(value, "service", local=local) == expected


@pytest.mark.parametrize(
    ("value", "local", "pattern"),
    [
        ("", False, "remote_x is empty: a remote service .* is required"),
        ("0", False, "remote_x '0' is port 0: a remote service .* is required"),
        ("000", False, "is port 0"),
        ("65536", False, "'65536' is out of range: a port number must be 1..65535"),
        ("65536", True, "'65536' is out of range: a port number must be 0..65535"),
        ("99999999999999999999", True, "out of range"),
        (" 80", False, "' 80' is not a valid port number.*without sign or whitespace"),
        ("80 ", False, "not a valid port number"),
        ("\t80\n", False, "not a valid port number"),
        ("+80", False, "'\\+80' is not a valid port number"),
        ("-1", True, "'-1' is not a valid port number"),
        ("8 0", False, "'8 0' is not a valid service name: character ' '"),
        ("\uff18\uff10", False, "not a valid port number: use ASCII digits"),
        ("\u0661\u0662", False, "use ASCII digits"),
        ("ht tp", False, "'ht tp' is not a valid service name: character ' ' is not allowed"),
        ("http\x00", False, "character '\\\\x00' is not allowed"),
        ("http\n", False, "not a valid service name"),
        ("a..b", False, "not a valid service name: empty label"),
        (".http", False, "empty label"),
        ("http.", False, "empty label"),
        (".", False, "empty label"),
        ("a" * 64, False, "label longer than 63 characters"),
        ("ht/tp", False, "character '/' is not allowed"),
        ("h\u00e9", False, "character '\u00e9' is not allowed"),
        ("80.5", False, "needs at least one letter"),
        ("_-_", False, "needs at least one letter"),
    ],
)
def test_invalid_service_names_name_the_value(value: str, local: bool, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        parse_service_name(value, "remote_x", local=local)


@pytest.mark.parametrize("value", [1337, None, b"80", 80.0])
def test_service_name_must_be_a_str(value: object) -> None:
    with pytest.raises(TypeError, match='service names are strings like "1337"'):
        parse_service_name(value, "remote_service_name", local=False)  # type: ignore[arg-type]


# --- EndpointPair ----------------------------------------------------------------------


def test_endpoint_pair_converts_strings_to_host_names() -> None:
    pair = EndpointPair("127.0.0.1", "0", "Example.com", "80")
    assert pair.local_host_name == HostName("127.0.0.1")
    assert pair.local_service_name == "0"
    assert pair.remote_host_name == HostName("example.com")
    assert isinstance(pair.remote_host_name, HostName)
    assert pair.remote_service_name == "80"


def test_endpoint_pair_keeps_given_host_names() -> None:
    host = HostName("::1")
    pair = EndpointPair(None, "", host, "http")
    assert pair.local_host_name is None
    assert pair.local_service_name == ""
    assert pair.remote_host_name is host


def test_endpoint_pair_allows_an_unset_remote_until_required() -> None:
    pair = EndpointPair(None, "", None, "")
    expected = "EndpointPair(None, '', None, '') has no remote_host_name"
    with pytest.raises(ValueError, match=re.escape(expected)):
        pair.require_remote()
    pair.remote_host_name = "example.com"
    with pytest.raises(ValueError, match="has no remote_service_name"):
        pair.require_remote()
    pair.remote_service_name = "443"
    assert pair.require_remote() == (HostName("example.com"), "443")


def test_endpoint_pair_rejects_an_int_service() -> None:
    with pytest.raises(
        TypeError, match=r'remote_service_name must be a str .*"1337".*not int 1337'
    ):
        EndpointPair(None, "", "example.com", 1337)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="local_service_name must be a str"):
        EndpointPair(None, 0, "example.com", "80")  # type: ignore[arg-type]


def test_endpoint_pair_none_services_mean_empty() -> None:
    # API.md: None and "" let the system choose on the local side; on the remote side
    # they are errors only where a remote is required.
    pair = EndpointPair(None, None, "example.com", None)
    assert pair.local_service_name == ""
    assert pair.remote_service_name == ""
    with pytest.raises(ValueError, match="has no remote_service_name"):
        pair.require_remote()


def test_endpoint_pair_rejects_invalid_host_names_naming_field_and_value() -> None:
    with pytest.raises(InvalidHostNameError, match=re.escape("invalid remote_host_name 'a..b'")):
        EndpointPair(None, "", "a..b", "80")
    with pytest.raises(InvalidHostNameError, match="invalid local_host_name 'bad host'"):
        EndpointPair("bad host", "", "example.com", "80")
    with pytest.raises(TypeError, match="local_host_name must be a HostName or a str, not int"):
        EndpointPair(1, "", "example.com", "80")  # type: ignore[arg-type]


def test_endpoint_pair_rejects_invalid_service_names() -> None:
    with pytest.raises(ValueError, match="remote_service_name '0' is port 0"):
        EndpointPair(None, "", "example.com", "0")
    with pytest.raises(ValueError, match="local_service_name '70000' is out of range"):
        EndpointPair(None, "70000", "example.com", "80")
    with pytest.raises(ValueError, match="remote_service_name 'a b' is not a valid service name"):
        EndpointPair(None, "", "example.com", "a b")


def test_endpoint_pair_setters_validate_like_the_constructor() -> None:
    pair = EndpointPair(None, "", "example.com", "80")
    pair.local_host_name = "::1"
    assert pair.local_host_name == HostName("::1")
    pair.local_host_name = None
    assert pair.local_host_name is None
    pair.local_service_name = "5000"
    assert pair.local_service_name == "5000"
    pair.local_service_name = None
    assert pair.local_service_name == ""
    pair.local_service_name = "5000"
    with pytest.raises(TypeError, match="remote_service_name must be a str"):
        pair.remote_service_name = 80  # type: ignore[assignment]
    with pytest.raises(InvalidHostNameError, match="remote_host_name"):
        pair.remote_host_name = "-bad"
    assert pair == EndpointPair(None, "5000", "example.com", "80")


def test_endpoint_pairs_compare_field_by_field() -> None:
    pair = EndpointPair("127.0.0.1", "", "Example.com", "80")
    assert pair == EndpointPair(HostName("127.0.0.1"), "", "example.com.", "80")
    assert pair != EndpointPair("127.0.0.1", "", "example.com", "81")
    assert pair != EndpointPair(None, "", "example.com", "80")
    assert pair != ("127.0.0.1", "", "example.com", "80")


def test_endpoint_pair_is_not_hashable() -> None:
    pair = EndpointPair(None, "", "example.com", "80")
    with pytest.raises(TypeError, match="unhashable"):
        hash(pair)


def test_endpoint_pairs_survive_pickle_and_copy() -> None:
    pair = EndpointPair("127.0.0.1", "", "example.com", "http")
    assert pickle.loads(pickle.dumps(pair)) == pair
    clone = copy.copy(pair)
    clone.remote_service_name = "443"
    assert pair.remote_service_name == "http"


def test_endpoint_pair_repr() -> None:
    pair = EndpointPair(None, "", "::1", "80")
    assert repr(pair) == "EndpointPair(None, '', HostName('::1'), '80')"


_HOSTILE = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.sampled_from(["", ".", "..", "a..b", "-a", "::ffff:1.2.3.4", "[::1]", "1.2.3.4.5",
                     "0x7f.1", "xn--", "é" * 70, "a" * 300, "localhost\x00", "fe80::1%lo"]),
    st.integers(),
    st.binary(max_size=10),
    st.builds(HostName, st.sampled_from(["example.com", "127.0.0.1", "::1"])),
)  # fmt: skip


@given(local_host=_HOSTILE, local_service=_HOSTILE, remote_host=_HOSTILE, remote_service=_HOSTILE)
def test_any_endpoint_pair_is_made_or_refused_naming_the_field(
    local_host: object, local_service: object, remote_host: object, remote_service: object
) -> None:
    """Hostile input: an EndpointPair is made from anything sensible, and anything else is
    a ValueError or TypeError that names the field it came from."""
    fields = {
        "local_host_name": local_host,
        "local_service_name": local_service,
        "remote_host_name": remote_host,
        "remote_service_name": remote_service,
    }
    refused: Exception | None = None
    try:
        pair = EndpointPair(local_host, local_service, remote_host, remote_service)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        refused = exc
    if refused is not None:
        assert any(name in str(refused) for name in fields), refused
        return
    for host in (pair.local_host_name, pair.remote_host_name):
        assert host is None or isinstance(host, HostName)
    assert isinstance(pair.local_service_name, str)
    assert isinstance(pair.remote_service_name, str)
    incomplete: ValueError | None = None
    try:
        remote = pair.require_remote()
    except ValueError as exc:
        incomplete = exc
    if incomplete is not None:
        assert "remote_" in str(incomplete)
    else:
        assert isinstance(remote[0], HostName)
        assert remote[1]


def test_split_remote_takes_either_form_and_names_what_is_wrong() -> None:
    pair = EndpointPair("127.0.0.1", "0", "example.com", "80")
    assert split_remote(pair, None, "connect") == (
        HostName("example.com"),
        "80",
        HostName("127.0.0.1"),
        "0",
    )
    assert split_remote("example.com", "http", "connect") == (
        HostName("example.com"),
        "http",
        None,
        "",
    )
    with pytest.raises(TypeError, match=r"connect\(endpoint_pair\) takes no remote_service_name"):
        split_remote(pair, "80", "connect")
    with pytest.raises(TypeError, match=r"get_output_stream\(\) needs a remote_service_name"):
        split_remote("example.com", None, "get_output_stream")
    with pytest.raises(TypeError, match="remote_service_name must be a str"):
        split_remote("example.com", 80, "connect")
    with pytest.raises(InvalidHostNameError, match="invalid remote_host_name"):
        split_remote("a..b", "80", "connect")


@given(st.text(max_size=1024))
@example("\u00ad" * 1000 + "\ud800")  # UTS 46 repeats the whole name in its reason
@example("a" * 1000 + "\ud800")
@example("1::" + "g" * 1000)  # so does ipaddress
@example("x" * 900 + ".a\u200db")
def test_every_refusal_has_a_bounded_message(raw: str) -> None:
    """Whatever the input (up to the 1,024 characters parsed), the input, a label of it
    and a library's reason each show at most 80 characters, in HostName's error and in
    an EndpointPair's too."""
    for make in (HostName, lambda text: EndpointPair(None, "", text, "80")):
        message = ""
        try:
            make(raw)
        except InvalidHostNameError as error:
            message = str(error)
        assert len(message) <= 3 * 80 + 120, message[:200]


def test_a_refusal_survives_copy_and_pickle() -> None:
    with pytest.raises(InvalidHostNameError) as caught:
        coerce_host_name("a..b", "remote_host_name")
    error = caught.value
    for copied in (copy.copy(error), copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(copied) is InvalidHostNameError
        assert str(copied) == str(error)
        assert (copied.host_name, copied.reason) == (error.host_name, error.reason)


def test_the_name_is_given_by_the_keyword_name() -> None:
    # API.md: HostName(name: str). The keyword was host_name, which still works.
    assert HostName(name="Example.COM") == HostName("example.com")
    with pytest.warns(DeprecationWarning, match=r"use HostName\(name=\.\.\.\)") as caught:
        old = HostName(host_name="Example.COM")  # deprecated spelling
    assert caught[0].filename == __file__
    assert old == HostName("example.com")
    with pytest.raises(TypeError, match="missing its argument: name"):
        HostName()  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="not both"):
        HostName("a", host_name="b")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="must be a str, not None"):
        HostName(None)  # type: ignore[call-overload]

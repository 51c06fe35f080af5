"""Tunnels over allowed ports: the mismatch hunt names SSH over 443, a Tor relay flow, VPN and p2p services and
a configured address list in a Zeek conn.log fixture; and the address book every network hunt shares."""

from __future__ import annotations

import ipaddress

import pytest

from tracehound import hunt
from tracehound.config import HuntConfig
from tracehound.errors import ConfigError
from tracehound.fanout.mismatch import ProtocolMismatch, classify, techniques
from tracehound.network.addresses import AddressBook
from tracehound.readers.connections import read_connections

HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
          "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\t"
          "resp_bytes\tconn_state\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\t"
          "count\tstring\n")
FLOWS = [
    ("10.0.0.5", "198.51.100.7", 443, "ssh", 3600.0, 90000, 40000, "SF"),      # SSH over 443
    ("10.0.0.6", "192.0.2.80", 9001, "-", 7200.0, 500000, 800000, "SF"),      # Tor ORPort, unidentified
    ("10.0.0.7", "192.0.2.81", 9001, "-", "-", 0, 0, "S0"),                   # a SYN to 9001: no flow
    ("10.0.0.8", "10.0.0.9", 9001, "-", 1.0, 300, 300, "SF"),                 # internal app on 9001
    ("10.0.0.10", "203.0.113.50", 1194, "openvpn", 600.0, 4000, 4000, "SF"),  # VPN
    ("10.0.0.11", "203.0.113.60", 6881, "bittorrent", 60.0, 4000, 9000, "SF"),
    ("10.0.0.12", "198.18.5.5", 443, "ssl", 60.0, 4000, 9000, "SF"),          # on the configured list
    ("10.0.0.13", "203.0.113.70", 443, "ssl", 60.0, 4000, 9000, "SF"),        # ordinary TLS
    ("10.0.0.14", "203.0.113.71", 8080, "ssh", 30.0, 4000, 9000, "SF"),       # SSH on a web port
]


@pytest.fixture()
def conn_log(tmp_path):
    path = tmp_path / "conn.log"
    lines = [f"{1717200000 + i * 60:.6f}\tC{i}\t{s}\t50000\t{d}\t{p}\ttcp\t{svc}\t{dur}\t{o}\t{b}\t{st}"
             for i, (s, d, p, svc, dur, o, b, st) in enumerate(FLOWS)]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tunnels_named_in_a_zeek_fixture(conn_log, engine):
    config = HuntConfig({"mismatch": {"tunnel_addresses": ["198.18.0.0/15"]}})
    result = hunt.run([conn_log], engine, config, only=["mismatch"])
    found = {f.actors["ips"][0]: f for f in result.findings}
    assert set(found) == {"10.0.0.5", "10.0.0.6", "10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.14"}
    assert "SSH tunnel over an allowed port" in found["10.0.0.5"].explanation
    assert "port 443 carries ssh" in found["10.0.0.5"].explanation
    assert "Tor ORPort 9001" in found["10.0.0.6"].explanation
    assert found["10.0.0.6"].evidence["techniques"] == ["T1090.003", "T1572"]
    assert "openvpn" in found["10.0.0.10"].explanation and "bittorrent" in found["10.0.0.11"].explanation
    assert "tunnel_addresses" in found["10.0.0.12"].explanation
    assert "SSH on web port 8080" in found["10.0.0.14"].explanation
    assert all(f.severity == "high" and "T1572" in f.evidence["techniques"] for f in found.values())
    # without the list, the listed address is an ordinary TLS flow
    plain = ProtocolMismatch().fit(*_read(conn_log, engine))
    table = _read(conn_log, engine)[0]
    assert "10.0.0.12" not in {f.actors["ips"][0] for f in plain.detect(plain.score(table))}


def _read(path, engine):
    table, _ = read_connections(path, engine)
    return table, engine


def test_wrong_protocol_is_t1571_and_validation():
    assert techniques([classify(53, "http")]) == ["T1571"]
    assert classify(22, "ssh") is None and classify(8443, "ssl") is None
    with pytest.raises(ConfigError, match="tunnel_addresses"):
        ProtocolMismatch(tunnel_addresses=["tor-exit-list"]).validate()
    with pytest.raises(ConfigError, match="internal"):
        ProtocolMismatch(internal="10.0.0.0/8").validate()


def test_address_book_groups_and_edges(duckdb_engine):
    book = AddressBook.build(groups={"10.0.1.0/24": "engineering", "10.0.0.0/16": "campus",
                                     "192.0.2.0/24": "dmz"})
    frame = book.classify(["10.0.1.7", "10.0.9.7", "10.9.0.1", "192.0.2.5", "8.8.8.8", "fd00::1",
                           "::ffff:10.0.1.8", "10.0.1.255", "fe80::1%eth0", "garbage", "203.0.113.1"])
    got = {a: (g, e) for a, g, e in frame.itertuples(index=False)}
    assert got["10.0.1.7"] == ("engineering", False)        # the most specific network wins
    assert got["10.0.9.7"] == ("campus", False)
    assert got["10.9.0.1"] == ("10.9.0.0/24", False)        # any other internal address: its /24
    assert got["192.0.2.5"] == ("dmz", False)               # a mapped network is internal
    assert got["fd00::1"][0] == str(ipaddress.ip_network("fd00::/64"))
    assert got["::ffff:10.0.1.8"] == ("engineering", False)
    assert got["10.0.1.255"] == ("engineering", True)       # broadcast: never a host
    assert got["fe80::1%eth0"] == ("fe80::/64", False)      # link-local, zone id and all
    assert {"8.8.8.8", "garbage", "203.0.113.1"}.isdisjoint(got)
    with pytest.raises(ConfigError, match="groups"):
        AddressBook.build(groups={"10.0.1.0/24": ""})
    with pytest.raises(ConfigError, match="internal"):
        AddressBook.build(internal=["10.0.0.1/8"])

"""Derived sign-in fields: IP prefixes, browser / OS from user agents, country by IP, per distinct value."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tracehound.readers import enrich
from tracehound.readers.enrich import Enricher, browser_and_os, ip_prefix
from tracehound.schema import SIGNINS


@pytest.mark.parametrize("ip, prefix", [
    ("203.0.113.77", "203.0.113.0/24"),
    ("24.13.212.221", "24.13.212.0/24"),
    ("0.0.0.0", "0.0.0.0/24"),
    ("2a09:bac5:111:4::1a:9b", "2a09:bac5:111::/48"),
    ("2a09:bac1:820:8::1a:9c", "2a09:bac1:820::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4-mapped IPv6 groups with its IPv4 block
    (" 203.0.113.77 ", "203.0.113.0/24"),
])
def test_ip_prefix_of_valid_addresses(ip, prefix):
    assert ip_prefix(ip) == prefix


@pytest.mark.parametrize("ip", ["", None, "not-an-ip", "256.1.1.1", "1.2.3", "01.2.3.4",
                                "1.2.3.4:443", "١.٢.٣.٤", "2a09::bac5::1"])
def test_ip_prefix_of_invalid_addresses_is_none(ip):
    assert ip_prefix(ip) is None


@pytest.mark.parametrize("agent, browser, system", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.6099.130 Safari/537.36", "Chrome 120", "Windows 10"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17", "iOS 17"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux i686; rv:24.0) Gecko/20100101 Firefox/24.0", "Firefox 24", "Ubuntu"),
    ("python-requests/2.28.2", "Python Requests 2", None),
    ("BAV2ROPC", None, None),
    ("", None, None),
    (None, None, None),
])
def test_browser_and_os_from_user_agent(agent, browser, system):
    assert browser_and_os(agent) == (browser, system)


def _batch(**columns) -> pa.RecordBatch:
    """A canonical signins batch holding ``columns``; every other column null."""
    n = len(next(iter(columns.values())))
    return pa.RecordBatch.from_arrays(
        [pa.array(columns.get(f.name, [None] * n), type=f.type) for f in SIGNINS], schema=SIGNINS)


def test_user_agents_are_parsed_once_per_distinct_value(monkeypatch):
    calls = []

    def counting(agent):
        calls.append(agent)
        return (f"B({agent})", f"O({agent})")

    monkeypatch.setattr(enrich, "browser_and_os", counting)
    agents = ["ua-1", "ua-2", "ua-1", None, "ua-2", "ua-1", "ua-3", ""] * 1000
    systems = [None] * len(agents)
    systems[1] = "Given OS"  # the source's own value wins over the parsed one
    out = Enricher().enrich(_batch(user_agent=agents, os=systems))
    assert sorted(calls) == ["ua-1", "ua-2", "ua-3"]
    assert out.column("browser").to_pylist()[:8] == ["B(ua-1)", "B(ua-2)", "B(ua-1)", None, "B(ua-2)",
                                                     "B(ua-1)", "B(ua-3)", None]
    assert out.column("os").to_pylist()[:3] == ["O(ua-1)", "Given OS", "O(ua-1)"]


def test_agents_with_browser_and_os_given_are_not_parsed(monkeypatch):
    monkeypatch.setattr(enrich, "browser_and_os", lambda agent: pytest.fail("parsed needlessly"))
    out = Enricher().enrich(_batch(browser=["Edge 81.0.416"], os=["Windows 10"], user_agent=["Mozilla/5.0"]))
    assert (out.column("browser").to_pylist(), out.column("os").to_pylist()) == (["Edge 81.0.416"], ["Windows 10"])


def test_countries_are_looked_up_only_where_missing_and_once_per_ip(monkeypatch):
    lookups = []

    def fake_country_code(ips):
        lookups.append(list(ips))
        return ["GB" if ip.startswith("81.") else None for ip in ips]

    monkeypatch.setattr(enrich.iptocc, "country_code", fake_country_code)
    enricher = Enricher()
    out = enricher.enrich(_batch(country=[None, "BE", None, None, None, "FR"],
                                 ip=["81.2.69.160", "81.2.69.160", "81.2.69.160", "10.0.0.1", None, "81.9.9.9"]))
    assert out.column("country").to_pylist() == ["GB", "BE", "GB", None, None, "FR"]
    assert len(lookups) == 1 and sorted(lookups[0]) == ["10.0.0.1", "81.2.69.160"]
    again = enricher.enrich(_batch(ip=["81.2.69.160"]))  # cached: no second lookup
    assert again.column("country").to_pylist() == ["GB"] and len(lookups) == 1


def test_real_iptocc_lookup_of_a_public_address():
    out = Enricher().enrich(_batch(ip=["81.2.69.160", "192.168.1.1"]))
    assert out.column("country").to_pylist() == ["GB", None]


def test_prefixes_cached_per_distinct_ip(monkeypatch):
    calls = []
    real = enrich.ip_prefix
    monkeypatch.setattr(enrich, "ip_prefix", lambda ip: calls.append(ip) or real(ip))
    out = Enricher().enrich(_batch(ip=["1.2.3.4", "1.2.3.4", "bogus", None, "bogus"]))
    assert out.column("ip_prefix").to_pylist() == ["1.2.3.0/24", "1.2.3.0/24", None, None, None]
    assert sorted(calls) == ["1.2.3.4", "bogus"]


def test_enrich_keeps_every_other_column():
    batch = _batch(event_id=["a", "b"], user=["x@c", "y@c"], result=[0, 50126], success=[True, False])
    out = Enricher().enrich(batch)
    for name in ("event_id", "user", "result", "success"):
        assert out.column(name).equals(batch.column(name))
    assert out.schema == SIGNINS

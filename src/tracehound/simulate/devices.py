"""Devices and the user agents they send, consistent with each other.

A sign-in's ``UserAgent`` and its ``DeviceDetail`` (browser, operating system, device name) must agree, or a
hunt that compares them learns the simulator's bugs instead of attackers' habits. Each device therefore
yields two *agents*: the browser it signs in with and the native client (Outlook, Teams) it runs; an agent
is the pair (user-agent string, DeviceDetail object) one sign-in carries.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import numpy as np

from . import catalog


class Agent(NamedTuple):
    user_agent: str
    device_detail: dict


def _pick(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _detail(os_name: str, browser: str, *, device_id: str = "", name: str = "", managed: bool = False,
            trust: str = "") -> dict:
    return {"deviceId": device_id, "displayName": name, "operatingSystem": os_name, "browser": browser,
            "isCompliant": managed, "isManaged": managed, "trustType": trust}


def browser_ua(rng: np.random.Generator, platform: str) -> tuple[str, str, str]:
    """A current browser user agent for ``platform`` (windows/mac/ios/android): (UA, browser, OS)."""
    if platform == "windows":
        family = _pick(rng, {"edge": 0.45, "chrome": 0.45, "firefox": 0.10})
        os_name, nt = "Windows 10", "Windows NT 10.0; Win64; x64"
    elif platform == "mac":
        family = _pick(rng, {"safari": 0.45, "chrome": 0.4, "edge": 0.1, "firefox": 0.05})
        os_name, nt = "MacOs", f"Macintosh; Intel Mac OS X {_pick(rng, catalog.MACOS_VERSIONS)}"
    elif platform == "ios":
        ver = _pick(rng, catalog.IOS_VERSIONS)
        short = ".".join(ver.split("_")[:2])
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {ver} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{short} Mobile/15E148 Safari/604.1", f"Mobile Safari {short}", "Ios")
    else:
        ver = _pick(rng, catalog.ANDROID_VERSIONS)
        chrome = _pick(rng, catalog.CHROME_VERSIONS)
        return (f"Mozilla/5.0 (Linux; Android {ver}; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{chrome}.0.0.0 Mobile Safari/537.36", f"Chrome Mobile {chrome}.0.0", "Android")
    if family == "chrome":
        v = _pick(rng, catalog.CHROME_VERSIONS)
        return (f"Mozilla/5.0 ({nt}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
                f"Chrome {v}.0.0", os_name)
    if family == "edge":
        v = _pick(rng, catalog.EDGE_VERSIONS)
        build = 2000 + 100 * (v - 118) + int(rng.integers(0, 90))
        return (f"Mozilla/5.0 ({nt}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 "
                f"Edg/{v}.0.{build}.{int(rng.integers(30, 99))}", f"Edge {v}.0.{build}", os_name)
    if family == "firefox":
        v = _pick(rng, catalog.FIREFOX_VERSIONS)
        ff_nt = nt.replace("Intel Mac OS X 10_15_7", "Intel Mac OS X 10.15")
        return (f"Mozilla/5.0 ({ff_nt}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", f"Firefox {v}.0", os_name)
    v = _pick(rng, catalog.SAFARI_VERSIONS)
    return (f"Mozilla/5.0 ({nt}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v} Safari/605.1.15",
            f"Safari {v}", os_name)


def _client_ua(rng: np.random.Generator, platform: str) -> tuple[str, str]:
    """The native Office client's user agent and the browser string Entra ID records for it."""
    if platform == "windows":
        return "Mozilla/4.0 (compatible; ms-office; MSOffice 16)", "Rich Client 4.58.1"
    if platform == "mac":
        return "MacOutlook/16.80.23121017 (Intelx64 Mac OS X 14.2.1 (Build 23C71))", "Rich Client 4.58.1"
    if platform == "ios":
        return f"Outlook-iOS/723.4027091.prod.iphone (4.24{int(rng.integers(0, 10)):02d}.0)", "Rich Client 4.58.0"
    return f"Outlook-Android/2.0 (4.24{int(rng.integers(0, 10)):02d}.0)", "Rich Client 4.58.0"


def _device_name(rng: np.random.Generator, prefix: str) -> str:
    chars = np.array(list(string.ascii_uppercase + string.digits))
    return prefix + "".join(rng.choice(chars, 7))


def _guid(rng: np.random.Generator) -> str:
    h = rng.bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def make_device(rng: np.random.Generator, platform: str, managed: bool) -> tuple[Agent, Agent]:
    """One device: (browser agent, native-client agent). Managed devices carry a name and an id."""
    ua, browser, os_name = browser_ua(rng, platform)
    cua, cbrowser = _client_ua(rng, platform)
    if managed:
        prefix = {"windows": "LAPTOP-", "mac": "MAC-", "ios": "IPHONE-", "android": "ANDROID-"}[platform]
        if platform == "windows" and rng.random() >= 0.7:
            prefix = "DESKTOP-"
        name = _device_name(rng, prefix)
        trust = "Azure AD joined" if platform in ("windows", "mac") else "Azure AD registered"
        kw = {"device_id": _guid(rng), "name": name, "managed": True, "trust": trust}
    else:
        kw = {}
    return Agent(ua, _detail(os_name, browser, **kw)), Agent(cua, _detail(os_name, cbrowser, **kw))


def legacy_agent(rng: np.random.Generator, client_app: str) -> Agent:
    """What a legacy-protocol mail client looks like: ActiveSync phones, IMAP/POP desktop clients."""
    if client_app == "Exchange ActiveSync":
        model = _pick(rng, {"Apple-iPhone14C5/2104.123": 0.4, "Apple-iPhone15C2/2101.218": 0.3,
                            "Android-SAMSUNG-SM-G991B/101.10": 0.3})
        os_name = "Ios" if model.startswith("Apple") else "Android"
        return Agent(model, _detail(os_name, ""))
    return Agent(_pick(rng, {"Thunderbird/115.6.0": 0.4, "": 0.4, "Microsoft Outlook 16.0": 0.2}),
                 _detail("", ""))


#: Unusual user agents sprays are known to send, with the (browser, OS) Entra ID derives from them (the
#: fixed ones a burst can be given by name; campaigns draw theirs from :data:`TOOL_TEMPLATES`).
ODD_AGENTS: tuple[tuple[str, str, str], ...] = (
    ("python-requests/2.31.0", "Python Requests 2.31", ""),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", "IE 9.0", "Windows 7"),
    ("BAV2ROPC", "", ""),
    ("Go-http-client/1.1", "Go-http-client 1.1", ""),
    ("curl/7.88.1", "curl 7.88.1", ""),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:54.0) Gecko/20100101 Firefox/54.0", "Firefox 54.0", "Windows 7"),
    ("okhttp/4.9.2", "okhttp 4.9.2", ""),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36",
     "Chrome 87.0.4280", "Linux"),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)", "Rich Client 3.19.8", "Windows 10"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 "
     "Safari/537.36", "Chrome 74.0.3729", "Windows 10"),
    ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 "
     "Mobile Safari/537.36 Edge/15.15063", "Edge Mobile 15.15063", "Windows 10"),
    ("Apple-iPhone7C2/1202.466", "", "Ios"),
)


#: Templates of tool user agents, with the version parts a tool's operator happens to run drawn at random
#: ({a}, {b}, {c}: integers in the given ranges; {x}: one of the listed choices), and the browser / OS
#: Entra ID derives from them. Two campaigns rarely send the very same string, as in real tenants,
#: but may (BAV2ROPC has no version).
TOOL_TEMPLATES: tuple[tuple[str, str, str, dict], ...] = (
    ("python-requests/2.{a}.{b}", "Python Requests 2.{a}", "", {"a": (18, 32), "b": (0, 4)}),
    ("Python/3.{a} aiohttp/3.{b}.{c}", "", "", {"a": (7, 12), "b": (6, 9), "c": (0, 6)}),
    ("Go-http-client/{x}", "Go-http-client {x}", "", {"x": ("1.1", "2.0")}),
    ("curl/{a}.{b}.{c}", "curl {a}.{b}.{c}", "", {"a": (7, 8), "b": (29, 89), "c": (0, 2)}),
    ("okhttp/{a}.{b}.{c}", "okhttp {a}.{b}.{c}", "", {"a": (3, 4), "b": (0, 12), "c": (0, 3)}),
    ("Java/1.8.0_{a}", "Java 1.8.0", "", {"a": (100, 392)}),
    ("axios/{a}.{b}.{c}", "", "", {"a": (0, 1), "b": (19, 27), "c": (0, 6)}),
    ("node-fetch/{x}", "", "", {"x": ("1.0 (+https://github.com/bitinn/node-fetch)", "2.6.7", "3.3.2")}),
    ("libwww-perl/6.{a}", "libwww-perl 6.{a}", "", {"a": (30, 77)}),
    ("BAV2ROPC", "", "", {}),
    ("Mozilla/5.0 (compatible; MSIE {x}; Windows NT 6.1; Trident/5.0)", "IE {x}", "Windows 7",
     {"x": ("9.0", "10.0")}),
    ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)", "IE 8.0", "Windows XP", {}),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} "
     "Safari/537.36", "Chrome {a}.0.{b}", "Windows 10", {"a": (58, 99), "b": (3000, 4999), "c": (10, 220)}),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:{a}.0) Gecko/20100101 Firefox/{a}.0", "Firefox {a}.0", "Windows 7",
     {"a": (45, 78)}),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{a}.0.{b}.{c} Safari/537.36",
     "Chrome {a}.0.{b}", "Linux", {"a": (60, 99), "b": (3000, 4999), "c": (10, 220)}),
    ("Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.{x}.{a}", "", "Windows 10",
     {"x": ("17763", "19041", "22621"), "a": (1, 3999)}),
    ("Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.{x}; en-US) PowerShell/7.{a}.{b}", "", "Windows 10",
     {"x": ("19045", "22631"), "a": (0, 4), "b": (0, 12)}),
    ("Apple-iPhone{a}C{b}/{c}.{a}", "", "Ios", {"a": (7, 15), "b": (1, 5), "c": (1200, 2110)}),
    ("Mozilla/5.0 (compatible; Konqueror/4.{a}; FreeBSD) KHTML/4.{a}.{b} (like Gecko)", "Konqueror 4.{a}", "FreeBSD",
     {"a": (2, 14), "b": (0, 5)}),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{a}; Pro)", "Rich Client 3.19.8", "Windows 10",
     {"a": (4266, 5100)}),
)


def tool_agent(rng: np.random.Generator, template: int | None = None) -> Agent:
    """One tool user agent: template ``template`` (or a random one) with its versions drawn at random."""
    ua, browser, os_name, parts = TOOL_TEMPLATES[int(rng.integers(len(TOOL_TEMPLATES))) if template is None
                                                 else template]
    values = {}
    for key, spec in parts.items():
        if isinstance(spec[0], str):
            values[key] = spec[int(rng.integers(len(spec)))]
        else:
            values[key] = str(int(rng.integers(spec[0], spec[1] + 1)))
    return Agent(ua.format(**values), _detail(os_name, browser.format(**values)))


def odd_agents(rng: np.random.Generator, n: int) -> list[Agent]:
    """``n`` distinct tool agents from distinct templates (a tool's small rotation set, its own versions)."""
    templates = rng.choice(len(TOOL_TEMPLATES), min(n, len(TOOL_TEMPLATES)), replace=False)
    return [tool_agent(rng, int(t)) for t in templates]


def ordinary_agents(rng: np.random.Generator, n: int) -> list[Agent]:
    """``n`` distinct ordinary, current browser agents (no device name): what a careful sprayer rotates."""
    seen: dict[str, Agent] = {}
    platforms = ("windows", "windows", "windows", "mac", "ios", "android")
    for _ in range(n * 50):
        if len(seen) >= n:
            break
        ua, browser, os_name = browser_ua(rng, platforms[int(rng.integers(len(platforms)))])
        seen.setdefault(ua, Agent(ua, _detail(os_name, browser)))
    return list(seen.values())


def bare_agent(user_agent: str, browser: str = "", os_name: str = "") -> Agent:
    """An agent with no device identity (service accounts, external tools)."""
    return Agent(user_agent, _detail(os_name, browser))


def agent_for(user_agent: str) -> Agent:
    """The agent for a known tool user agent (browser/OS as Entra ID shows them), else a bare one."""
    for ua, browser, os_name in ODD_AGENTS:
        if ua == user_agent:
            return bare_agent(ua, browser, os_name)
    return bare_agent(user_agent)

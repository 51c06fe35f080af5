"""A web site's access log with planted scanners and ground truth (``tracehound simulate weblogs``).

The site has a home page, sections (blog, products, docs, about, contact, account) whose pages link
to each other, static assets per page, one long-standing broken link on the blog index, and a login
flow. Visitors arrive on the home page or deep-link into popular pages (Zipf), follow links with
human think times, reload, go home, and now and then mistype a URL. Planted on top:

- **dirbrute**: one IP walks a word list of paths (``/admin/``, ``/.git/config``, ``/backup.zip``, ...)
  every fraction of a second; nearly everything is 404/403;
- **cms**: WordPress / Joomla / Drupal probes (``/wp-login.php``, ``/administrator/``, ``/user/login``,
  ``/xmlrpc.php``), a handful of requests, sometimes after a look at the home page;
- **sqli**: browses a few real pages, then walks injection strings through product ids and the search
  path (``/products/1'%20OR%20'1'='1``), which the application answers with 500 or 403;
- **crawler**: a polite, slow search-engine bot (not an attacker) that reads robots.txt and then
  fetches every page breadth-first, one every 3–12 minutes, for most of a day.

Benign noise that a hunt must live with: one visitor session in 200 (``typo_rate``) requests a
mistyped URL (404); three in 1,000 (``stale_rate``) arrive from an old search result on a blog post
that was removed (404 straight from START, like a probe); and the blog index keeps a link to a page
that no longer exists.

``labels.json`` lists every client (IP, user agent) with its role (``benign``, ``crawler``,
``scanner``) and kind, so sessions can be scored against the truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 13_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
]
DIRBRUTE_WORDS = [
    "admin/", "administrator/", "backup/", "backup.zip", "backup.tar.gz", ".git/config", ".env", ".svn/entries",
    "config.php", "config.php.bak", "phpinfo.php", "test/", "test.php", "old/", "new/", "dev/", "tmp/", "temp/",
    "uploads/", "files/", "private/", "server-status", "cgi-bin/", "cgi-bin/test.cgi", "db/", "database.sql",
    "dump.sql", "install/", "setup.php", "console/", "manager/html", "api/v1/", "debug/", "logs/", "log.txt",
    "web.config", ".htaccess", ".htpasswd", "shell.php", "cmd.php", "panel/", "cpanel/", "webadmin/", "login.php",
    "admin.php", "admin/login.php", "adminer.php", "phpmyadmin/", "pma/", "mysql/", "sql/", "inc/", "include/",
]
CMS_PROBES = [
    ["/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/wp-content/plugins/"],
    ["/administrator/", "/administrator/index.php", "/configuration.php"],
    ["/user/login", "/user/register", "/node/add", "/CHANGELOG.txt"],
    ["/wp-login.php", "/administrator/", "/admin.php", "/user/login"],
]
SQLI = ["'", "'%20OR%20'1'='1", "1%20UNION%20SELECT%20NULL--", "1;DROP%20TABLE%20users", "%27%22%3E",
        "1%20AND%20SLEEP(5)", "1'%20AND%201=1--", "-1%20UNION%20ALL%20SELECT%201,2,3--"]


@dataclass
class Site:
    """Pages, the links between them and each page's assets."""

    pages: list[str]
    links: dict[str, list[str]]
    assets: dict[str, list[str]]
    popularity: np.ndarray
    broken: str = "/blog/old-announcement.html"
    missing_assets: set[str] = field(default_factory=set)


def make_site(rng: np.random.Generator, posts: int = 60, products: int = 40, docs: int = 30) -> Site:
    """A site with sections whose pages link within the section, to the section index and home."""
    sections = {
        "/blog/": [f"/blog/{y}/{m:02d}/post-{i}.html" for i, (y, m) in
                   enumerate(zip(rng.integers(2019, 2024, posts), rng.integers(1, 13, posts)))],
        "/products/": [f"/products/{1000 + i}" for i in range(products)],
        "/docs/": [f"/docs/{part}/{i}.html" for part in ("guide", "api", "faq") for i in range(docs // 3)],
        "/about/": ["/about/team.html", "/about/jobs.html"],
        "/contact/": [],
        "/account/": ["/login", "/account/orders", "/account/settings"],
    }
    pages = ["/", *sections, *[p for group in sections.values() for p in group], "/search"]
    links: dict[str, list[str]] = {"/": list(sections) + ["/search"] + sections["/blog/"][:5]
                                   + sections["/products/"][:5]}
    for index, group in sections.items():
        links[index] = group + ["/"]
        for p in group:
            related = list(rng.choice(group, size=min(4, len(group)), replace=False)) if group else []
            links[p] = [q for q in related if q != p] + [index, "/", "/search"]
    links["/blog/"].append("/blog/old-announcement.html")
    links["/search"] = sections["/products/"][:10] + sections["/docs/"][:10] + ["/"]
    links["/login"] = ["/account/orders", "/account/settings", "/"]
    assets = {p: ["/static/site.css", "/static/app.js", f"/static/img/{i % 50}.png"]
              for i, p in enumerate(pages)}
    ranks = np.arange(1, len(pages) + 1)
    popularity = 1.0 / ranks ** 0.9
    rng.shuffle(popularity[1:])
    return Site(pages, links, assets, popularity / popularity.sum())


def _ip(rng: np.random.Generator, v6_share: float = 0.1) -> str:
    if rng.random() < v6_share:
        return "2001:db8:" + ":".join(f"{x:x}" for x in rng.integers(0, 65536, 6))
    first = int(rng.choice([23, 31, 45, 62, 78, 81, 86, 91, 103, 109, 151, 176, 185, 188, 195, 212, 217]))
    return f"{first}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"


def _line(ip: str, when: datetime, method: str, target: str, status: int, size: int, referrer: str,
          ua: str) -> str:
    stamp = f"{when.day:02d}/{MONTHS[when.month - 1]}/{when.year}:{when:%H:%M:%S} +0000"
    return (f'{ip} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size if status < 400 else 0} '
            f'"{referrer}" "{ua}"')


#: The fields IIS logs by default, in its order.
W3C_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
              "cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes time-taken")


def _w3c(ip: str, when: datetime, method: str, target: str, status: int, size: int, referrer: str,
         ua: str) -> str:
    """The same request as IIS writes it (W3C extended, default fields; spaces in values as ``+``)."""
    stem, _, query = target.partition("?")
    agent = ua.replace(" ", "+") or "-"
    return (f"{when:%Y-%m-%d %H:%M:%S} 10.0.0.5 {method} {stem.replace(' ', '+')} "
            f"{query.replace(' ', '+') or '-'} 443 - {ip} {agent} {referrer.replace(' ', '+') or '-'} "
            f"{status} 0 0 {size if status < 400 else 0} {15 + len(target) % 40}")


class _Writer:
    """Collects (time, combined line, W3C line) rows; logs are written sorted by time like a real
    server's."""

    def __init__(self, host: str = "https://shop.example") -> None:
        self.rows: list[tuple[datetime, str, str]] = []
        self.host = host

    def hit(self, ip, when, method, target, status, ua, referrer="-", size=5000) -> None:
        self.rows.append((when, _line(ip, when, method, target, status, size, referrer, ua),
                          _w3c(ip, when, method, target, status, size, referrer, ua)))


def _status(site: Site, page: str) -> int:
    return 404 if page == site.broken or page not in site.links and page not in site.assets else 200


def _visit(w: _Writer, site: Site, rng, ip: str, ua: str, start: datetime, typo_rate: float,
           stale_rate: float) -> None:
    """One human session: entry, link-following walk with think times, assets per page."""
    now = start
    page = "/" if rng.random() < 0.35 else str(rng.choice(site.pages, p=site.popularity))
    referrer = "https://www.google.com/" if page != "/" else "-"
    if rng.random() < stale_rate:  # an old search result or bookmark for a page that was removed
        w.hit(ip, now, "GET", f"/blog/2018/{rng.integers(1, 13):02d}/retired-{rng.integers(0, 20)}.html",
              404, ua, referrer)
        now += timedelta(seconds=float(rng.lognormal(2.0, 0.5)))
        referrer = "-"
    steps = int(rng.integers(1, 12))
    typo_step = int(rng.integers(0, steps)) if rng.random() < typo_rate else -1
    for step in range(steps):
        status = _status(site, page)
        w.hit(ip, now, "GET", page, status, ua, referrer)
        if status == 200:
            for asset in site.assets.get(page, []):
                w.hit(ip, now + timedelta(seconds=float(rng.uniform(0.05, 1.5))), "GET", asset, 200, ua,
                      w.host + page, size=20000)
        if page == "/login" and rng.random() < 0.7:
            now += timedelta(seconds=float(rng.uniform(5, 20)))
            w.hit(ip, now, "POST", "/login", 302, ua, w.host + "/login")
            page = "/account/orders"
            continue
        now += timedelta(seconds=float(rng.lognormal(3.2, 1.0)))
        if step == typo_step:
            w.hit(ip, now, "GET", page.rstrip("/") + "x" + str(rng.integers(0, 99)), 404, ua, w.host + page)
            now += timedelta(seconds=float(rng.lognormal(2.0, 0.5)))
        referrer = w.host + page
        if rng.random() < 0.08:
            continue  # reload
        if rng.random() < 0.1:
            page = "/"
        else:
            page = str(rng.choice(site.links.get(page, ["/"])))


def _dirbrute(w: _Writer, rng, ip: str, start: datetime) -> None:
    ua = str(rng.choice(["gobuster/3.6", "Mozilla/5.0 (compatible; dirbuster)", BROWSERS[0]]))
    now = start
    words = list(rng.choice(DIRBRUTE_WORDS, size=int(rng.integers(25, len(DIRBRUTE_WORDS))), replace=False))
    for word in words:
        w.hit(ip, now, "GET", "/" + word, 403 if word.startswith(".ht") else 404, ua)
        now += timedelta(seconds=float(rng.uniform(0.05, 0.8)))


def _cms(w: _Writer, site: Site, rng, ip: str, start: datetime) -> None:
    ua = str(rng.choice(BROWSERS + ["-", "python-requests/2.31.0"]))
    now = start
    if rng.random() < 0.5:
        w.hit(ip, now, "GET", "/", 200, ua)
        now += timedelta(seconds=float(rng.uniform(0.5, 3)))
    for path in CMS_PROBES[int(rng.integers(0, len(CMS_PROBES)))]:
        w.hit(ip, now, "GET", path, 404, ua)
        now += timedelta(seconds=float(rng.uniform(0.5, 5)))


def _sqli(w: _Writer, site: Site, rng, ip: str, start: datetime) -> None:
    ua = str(rng.choice(["sqlmap/1.7.2#stable (https://sqlmap.org)", BROWSERS[2]]))
    now = start
    products = [p for p in site.pages if p.startswith("/products/1")]
    for page in ["/", "/products/", str(rng.choice(products))]:
        w.hit(ip, now, "GET", page, 200, ua)
        now += timedelta(seconds=float(rng.uniform(1, 8)))
    target = str(rng.choice(products))
    for payload in rng.choice(SQLI, size=int(rng.integers(4, len(SQLI))), replace=False):
        path = target + str(payload) if rng.random() < 0.7 else "/search/" + str(payload)
        w.hit(ip, now, "GET", path, int(rng.choice([500, 403, 500])), ua)
        now += timedelta(seconds=float(rng.uniform(0.3, 3)))


def _crawler(w: _Writer, site: Site, rng, ip: str, ua: str, start: datetime, end: datetime) -> None:
    now = start
    w.hit(ip, now, "GET", "/robots.txt", 200, ua)
    seen, queue = {"/"}, ["/"]
    while queue and now < end:
        page = queue.pop(0)
        now += timedelta(seconds=float(rng.uniform(180, 720)))
        w.hit(ip, now, "GET", page, _status(site, page), ua)
        for nxt in site.links.get(page, []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)


def simulate_weblogs(out_dir: str | Path, *, visitors: int = 1500, scanners: int = 12, days: int = 3,
                     typo_rate: float = 0.005, stale_rate: float = 0.003, seed: int = 0,
                     start: datetime = datetime(2024, 3, 4, tzinfo=timezone.utc), iis: bool = False) -> dict:
    """Write ``access.log`` and ``labels.json`` into ``out_dir`` (with ``iis``, also ``u_ex.log``:
    the same requests in IIS W3C format); returns a summary dict.

    ``scanners`` are split between dirbrute, cms and sqli; one slow crawler always runs.
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site = make_site(rng)
    w = _Writer()
    clients: list[dict] = []
    span = days * 86400
    for _ in range(visitors):
        ip, ua = _ip(rng), str(rng.choice(BROWSERS))
        clients.append({"ip": ip, "user_agent": ua, "role": "benign", "kind": "visitor"})
        for _ in range(int(rng.integers(1, 4))):
            _visit(w, site, rng, ip, ua, start + timedelta(seconds=float(rng.uniform(0, span))), typo_rate,
                   stale_rate)
    kinds = ["dirbrute", "cms", "sqli"]
    for i in range(scanners):
        kind = kinds[i % len(kinds)]
        ip = _ip(rng, v6_share=0.2)
        when = start + timedelta(seconds=float(rng.uniform(0, span)))
        mark = len(w.rows)
        {"dirbrute": lambda: _dirbrute(w, rng, ip, when), "cms": lambda: _cms(w, site, rng, ip, when),
         "sqli": lambda: _sqli(w, site, rng, ip, when)}[kind]()
        for ua in sorted({row[1].rsplit('"', 2)[-2] for row in w.rows[mark:]}):
            clients.append({"ip": ip, "user_agent": ua, "role": "scanner", "kind": kind})
    bot_ip, bot_ua = "66.249.66.1", "ExampleBot/2.1 (+https://bot.example/info)"
    _crawler(w, site, rng, bot_ip, bot_ua, start, start + timedelta(seconds=span))
    clients.append({"ip": bot_ip, "user_agent": bot_ua, "role": "crawler", "kind": "crawler"})
    w.rows.sort(key=lambda r: r[0])
    log = out / "access.log"
    with log.open("w", encoding="utf-8") as fh:
        for _, line, _ in w.rows:
            fh.write(line + "\n")
    if iis:  # the same requests as an IIS server logs them: the Apache log's twin
        with (out / "u_ex.log").open("w", encoding="utf-8") as fh:
            fh.write(f"#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
                     f"#Date: {start:%Y-%m-%d %H:%M:%S}\n#Fields: {W3C_FIELDS}\n")
            for _, _, line in w.rows:
                fh.write(line + "\n")
    labels = out / "labels.json"
    labels.write_text(json.dumps({"clients": clients}, indent=1), encoding="utf-8")
    return {"log": str(log), "labels": str(labels), "iis_log": str(out / "u_ex.log") if iis else None,
            "lines": len(w.rows), "clients": len(clients),
            "scanners": scanners}

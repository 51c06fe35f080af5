"""The Linux auth syslog reader on loghub's real sshd logs and on hand-made edge cases.

Counts were taken from the files with grep (tests/data/loghub-ssh/README.md has the commands):

OpenSSH_2k.log — 522 lines ``sshd[pid]: Failed …`` (518 password + 4 none), 2 lines ``message repeated
5 times: [ Failed password … ]``, 1 ``Accepted``, 113 ``Invalid user``, 494 ``pam_unix(sshd:auth):
authentication failure`` and 10 ``PAM N more authentication failures``. Linux_2k.log — 489
``sshd(pam_unix)[pid]: authentication failure`` (372 of them with ``user=``) and 1 from gdm.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import pytest

from tracehound.badrecords import ReadReport
from tracehound.hunt import route
from tracehound.readers.authlog import AuthLogStats, iter_authlog_rows
from tracehound.readers.logons import FILTERED, read_logons, sniff_logon_format

OPENSSH = "loghub-ssh/OpenSSH_2k.log"
LINUX = "loghub-ssh/Linux_2k.log"


def _rows(path, **kw):
    report, stats = ReadReport(), AuthLogStats()
    rows = list(iter_authlog_rows(path, report, stats=stats, **kw))
    return rows, report, stats


def test_openssh_counts(data_dir):
    rows, report, stats = _rows(data_dir / OPENSSH, year=2016)
    assert stats.lines == 2000 and stats.malformed == 0 and report.bad_count == 0
    # 522 Failed lines + 2 × 5 repeats; the single Accepted line
    assert stats.events["failed"] == 522 + 2 * 5
    assert stats.events["accepted"] == 1
    # every Invalid user line belongs to a process that also logged its Failed line: folded, not counted
    assert "invalid" not in stats.events
    # pam lines: 494 + 10 "PAM N more" lines, all but one in a process with an sshd verdict
    assert stats.events["pam"] == 1 and stats.folded == 113 + 494 + 10 - 1
    assert stats.skipped + stats.folded + 522 + 2 + 1 + 1 == 2000
    assert len(rows) == 532 + 1 + 1
    accepted = [r for r in rows if r["success"]]
    assert [(r["user"], r["source_ip"], r["event_code"]) for r in accepted] == [("fztu", "119.137.62.142", 4624)]
    assert {r["target_host"] for r in rows} == {"LABSZ"}
    assert all(r["event_code"] == 4625 and r["logon_type"] == 10 for r in rows if not r["success"])
    assert rows[0]["time"] == datetime(2016, 12, 10, 6, 55, 48, tzinfo=timezone.utc)
    assert len({r["event_id"] for r in rows}) == len(rows)


def test_openssh_per_ip_failures_match_the_raw_text(data_dir):
    """Oracle: the raw ``Failed`` lines of 183.62.140.253, counted with a plain regex, plus its pam_unix
    failure on line 1999, whose process's ``Failed`` line lies past loghub's 2,000-line cut."""
    raw = (data_dir / OPENSSH).read_text()
    expected = len(re.findall(r"sshd\[\d+\]: Failed \S+ for .* from 183\.62\.140\.253 port", raw))
    rows, _, _ = _rows(data_dir / OPENSSH, year=2016)
    assert expected > 200
    mine = [r for r in rows if r["source_ip"] == "183.62.140.253" and not r["success"]]
    assert len(mine) == expected + 1
    assert mine[-1]["event_id"] == "OpenSSH_2k.log:1999" and mine[-1]["user"] == "root"


def test_linux_pam_only_log(data_dir):
    rows, report, stats = _rows(data_dir / LINUX, year=2005)
    assert report.bad_count == 0 and stats.lines == 2000
    assert stats.events == {"pam": 489 + 1} and stats.folded == 0
    assert sum(1 for r in rows if r["user"]) == 372
    assert rows[0]["time"] == datetime(2005, 6, 14, 15, 16, 1, tzinfo=timezone.utc)
    assert rows[-1]["time"].month == 7 and rows[-1]["time"].year == 2005
    by_host = [r for r in rows if r["source_host"] == "220-135-151-1.hinet-ip.hinet.net"]
    assert by_host and all(r["source_ip"] is None for r in by_host)
    assert sum(1 for r in rows if r["source_ip"] == "150.183.249.110") == 80
    gdm = [r for r in rows if r["logon_type"] is None]
    assert len(gdm) == 1 and gdm[0]["source_ip"] is None and gdm[0]["source_host"] is None


def test_read_logons_and_sniffing(duckdb_engine, data_dir):
    for name in (OPENSSH, LINUX):
        assert sniff_logon_format(data_dir / name) == "authlog"
    routing = route([data_dir / OPENSSH, data_dir / LINUX])
    assert sorted(p.name for p in routing.files["logons"]) == ["Linux_2k.log", "OpenSSH_2k.log"]
    table, report = read_logons(data_dir / OPENSSH, duckdb_engine, syslog_year=2016)
    assert report.formats["authlog"] == 1 and report.bad_count == 0
    assert report.records + report.skipped[FILTERED] == 534 and report.skipped[FILTERED] == 2
    # the shared account filter drops the two attempts on "anonymous" (103.99.0.122)
    assert duckdb_engine.scalar(table.count()) == 534 - 2
    assert duckdb_engine.scalar(table.filter(table.success).count()) == 1


def test_not_auth_logs_are_not_sniffed(tmp_path, data_dir):
    kernel = tmp_path / "kern.log"
    kernel.write_text("Jun 14 15:16:01 combo kernel: Linux version 2.6.5\n" * 5)
    assert sniff_logon_format(kernel) is None  # syslog-shaped, but not one auth event
    assert sniff_logon_format(data_dir / "elastic-apache" / "apache_logs") is None


SAMPLE = """\
Mar  3 10:00:00 web1 sshd[100]: Invalid user bob from 10.0.0.5 port 4000
Mar  3 10:00:01 web1 sshd[100]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.0.5
Mar  3 10:00:02 web1 sshd[100]: Failed password for invalid user bob from 10.0.0.5 port 4000 ssh2
Mar  3 10:00:03 web1 sshd[101]: Invalid user carol from 10.0.0.6 port 4001
Mar  3 10:00:04 web1 sshd[102]: message repeated 3 times: [ Failed password for root from 10.0.0.7 port 4002 ssh2]
Mar  3 10:00:05 web1 sshd[103]: Failed password for invalid user x from 1.1.1.1 port 1 ssh2 from 10.0.0.8 port 4003 ssh2
Mar  3 10:00:06 web1 sshd[104]: Accepted publickey for alice from gw.example.org port 22 ssh2: RSA SHA256:abc
Mar  3 10:00:07 web1 sshd[105]: Failed password for root from
Mar  3 10:00:08 web1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice
Mar  3 10:00:09 web1 CRON[200]: pam_unix(cron:session): session opened for user root by (uid=0)
Mar 31 25:00:00 web1 sshd[106]: Failed password for root from 10.0.0.9 port 4004 ssh2
2024-03-03T10:00:10.123456+01:00 web2.corp.local sshd[300]: Failed password for dave from 10.0.0.10 port 4005 ssh2
Failed password for root from 10.0.0.11 port 4006 ssh2
2024-13-03T10:00:10Z web2 sshd[301]: Failed password for erin from 10.0.0.12 port 4007 ssh2
"""


def test_edge_cases(tmp_path):
    path = tmp_path / "auth.log"
    path.write_text(SAMPLE)
    assert sniff_logon_format(path) == "authlog"  # the bad lines do not trip the sniffer
    rows, report, stats = _rows(path, year=2024)
    got = [(r["user"], r["source_ip"], r["source_host"], r["success"]) for r in rows]
    assert got == [
        ("bob", "10.0.0.5", None, False),          # one attempt: Invalid + pam + Failed → one row
        ("carol", "10.0.0.6", None, False),        # Invalid user without a verdict line → a row
        ("root", "10.0.0.7", None, False), ("root", "10.0.0.7", None, False),
        ("root", "10.0.0.7", None, False),         # message repeated 3 times → 3 rows
        ("x from 1.1.1.1 port 1 ssh2", "10.0.0.8", None, False),  # the real address is the last one
        ("alice", None, "gw.example.org", True),
        ("alice", None, None, False),              # sudo: local, no source
        ("dave", "10.0.0.10", None, False),
    ]
    assert stats.folded == 2 and stats.malformed == 4 and stats.skipped == 1
    lines = sorted(b.line for b in report.bad)
    assert lines == [8, 11, 13, 14] and all(b.file == str(path) for b in report.bad)
    assert rows[0]["event_id"] == "auth.log:3"
    assert [r["event_id"] for r in rows[2:5]] == ["auth.log:5", "auth.log:5.2", "auth.log:5.3"]
    assert rows[-1]["time"] == datetime(2024, 3, 3, 9, 0, 10, 123456, tzinfo=timezone.utc)
    assert rows[-1]["target_host"] == "WEB2"


ROLLOVER = """\
Dec 31 23:59:58 h sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2
Jan  1 00:00:01 h sshd[2]: Failed password for root from 10.0.0.1 port 2 ssh2
"""


@pytest.mark.parametrize("mtime, year, expected", [
    (datetime(2024, 2, 1, tzinfo=timezone.utc), None, (2023, 2024)),   # last line in the mtime year
    (datetime(2024, 2, 1, tzinfo=timezone.utc), 2019, (2019, 2020)),   # year= is the first line's
])
def test_year_rollover(tmp_path, mtime, year, expected):
    path = tmp_path / "secure"
    path.write_text(ROLLOVER)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    rows, _, _ = _rows(path, year=year)
    assert tuple(r["time"].year for r in rows) == expected


def test_year_when_the_log_ends_after_the_mtime_month(tmp_path):
    """A December log whose copy was made in January: its lines are in the year before."""
    path = tmp_path / "auth.log"
    path.write_text("Dec 10 06:55:48 h sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2\n")
    stamp = datetime(2025, 1, 5, tzinfo=timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))
    rows, _, _ = _rows(path)
    assert rows[0]["time"].year == 2024

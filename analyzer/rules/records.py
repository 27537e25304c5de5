"""12, 13. The session records: messages and result checksums."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.run import MAX_EVIDENCE, RunData
from powerlog.layout import REQUIRED_FILES
from powerlog.session_record import SessionRecord

__all__ = ["check_session"]

# 12, 13. session records -------------------------------------------------------------


def check_session(run: RunData, round_: Round) -> Iterable[Finding]:
    c, s = run.client, run.server
    if c is None or s is None:
        for rule in ("12.uuid", "12.session_name", "12.messages", "12.results", "12.sources", "13.debug"):
            yield Finding.skipped(rule, "Session records", "needs both power/client.json and power/server.json")
        return
    ev = Evidence(values={"client": [c.uuid_client, c.uuid_server], "server": [s.uuid_client, s.uuid_server]})
    if c.uuid_client and c.uuid_server and (c.uuid_client, c.uuid_server) == (s.uuid_client, s.uuid_server):
        yield Finding.passed("12.uuid", "Client and server agree on the session uuids", "uuids match", ev)
    else:
        yield Finding.failed(
            "12.uuid", "Client and server agree on the session uuids", Severity.ERROR, "uuids differ or are missing", ev
        )
    ev = Evidence(values={"client": c.session_name, "server": s.session_name})
    if c.session_name and c.session_name == s.session_name:
        yield Finding.passed("12.session_name", "Session names agree", c.session_name, ev)
    else:
        yield Finding.failed(
            "12.session_name", "Session names agree", Severity.ERROR, "session names differ or are missing", ev
        )
    yield from _check_messages(c, s)
    yield from _check_results(run, c, s)
    yield Finding.skipped(
        "12.sources",
        "Workflow source checksums",
        "the reference workflow's sha1 list of its own sources is not shipped with mlpower, so the "
        "recorded source checksums cannot be verified here; this rule applies only to that workflow",
        Evidence(values={"client_sources": len(c.sources), "server_sources": len(s.sources)}),
    )
    if s.debug:
        yield Finding.failed(
            "13.debug", "Server not in debug mode", Severity.ERROR, "server.json says debug mode was on"
        )
    else:
        yield Finding.passed("13.debug", "Server not in debug mode", "no debug flag in server.json")


def _check_messages(c: SessionRecord, s: SessionRecord) -> Iterable[Finding]:
    title = "Client and server message lists agree"
    problems = []
    if len(c.messages) != len(s.messages):
        problems.append(f"{len(c.messages)} client vs {len(s.messages)} server messages")
    for i, (a, b) in enumerate(zip(c.messages, s.messages, strict=False)):
        if a.cmd != b.cmd:
            problems.append(f"message {i + 1}: client {a.cmd!r}, server {b.cmd!r}")
        elif a.cmd != "time" and a.reply != b.reply:
            problems.append(f"message {i + 1} ({a.cmd!r}): client reply {a.reply!r}, server {b.reply!r}")
    if problems:
        yield Finding.failed(
            "12.messages",
            title,
            Severity.ERROR,
            "; ".join(problems[:3]),
            Evidence(values={"differences": problems[:MAX_EVIDENCE]}),
        )
    else:
        yield Finding.passed("12.messages", title, f"{len(c.messages)} messages match")


def _check_results(run: RunData, c: SessionRecord, s: SessionRecord) -> Iterable[Finding]:
    title = "Recorded sha1 of every result file matches the file"
    recorded = {**c.results, **s.results}
    disagree = [k for k in c.results if k in s.results and c.results[k] != s.results[k]]
    if not run.file_sha1:
        yield Finding.skipped("12.results", title, "file hashes were not computed")
        return
    # as the official checker: only the files a result folder must hold (power-dev also records files that
    # are not shipped, such as run_1/ptd_out.txt and *_analyzer_1.*); other recorded files are informative
    required = {name for name in REQUIRED_FILES if name not in ("power/client.json", "power/server.json")}
    unlisted = sorted(required - recorded.keys())
    changed = sorted(k for k, v in recorded.items() if k in required and k in run.file_sha1 and run.file_sha1[k] != v)
    absent = sorted(k for k in recorded if k in required and k not in run.file_sha1)
    not_shipped = sorted(k for k in recorded if k not in required and k not in run.file_sha1)
    problems = []
    if disagree:
        problems.append(f"client and server record different sha1 for {', '.join(disagree)}")
    if changed:
        problems.append(f"file differs from its recorded sha1: {', '.join(changed)}")
    if absent:
        problems.append(f"recorded but missing: {', '.join(absent)}")
    if unlisted:
        problems.append(f"required but not recorded: {', '.join(unlisted)}")
    ev = Evidence(
        values={
            "recorded": len(recorded),
            "changed": changed,
            "absent": absent,
            "unlisted": unlisted,
            "recorded_not_shipped": not_shipped,
        }
    )
    if problems:
        yield Finding.failed("12.results", title, Severity.ERROR, "; ".join(problems), ev)
    else:
        checked = len(required & recorded.keys())
        extra = f"; {len(not_shipped)} recorded optional file(s) not shipped" if not_shipped else ""
        yield Finding.passed("12.results", title, f"{checked} required files match their recorded sha1{extra}", ev)

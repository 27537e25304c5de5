"""The live dashboard: the page, its assets (shipped in the package, no CDN), the SSE feed and the run list.

Read-only routes take the same dependency, ``read_auth``: the token, unless the director listens
on loopback only (then whoever can reach it is on this machine already). Without the token they answer only
to a loopback ``Host`` (:func:`require_loopback_host`): a web page whose name was rebound to 127.0.0.1 (DNS
rebinding) sends its own name, and is refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request, status
from fastapi.params import Depends
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from director.live import LiveFeed, sse_stream
from director.registry import Director
from powerlog.cli_support import package_version
from powerlog.errors import FormatError
from powerlog.result_record import ResultJson, read_result_json
from powerlog.run_record import read_session_json
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier, tier_description, tier_of_meter_url
from powerlog.wire import API_PREFIX

__all__ = [
    "DashboardSource",
    "add_dashboard",
    "director_source",
    "is_loopback_host",
    "list_runs",
    "require_loopback_host",
    "tier_summary",
]

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")
_ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8000`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_host(host: str | None) -> bool:
    """Whether a request's Host header names this machine's loopback: ``localhost``, 127.0.0.0/8 or ``[::1]``,
    with any port. None (no Host header) is not."""
    if not host:
        return False
    name = _host_name(host.strip()).lower().removesuffix(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def require_loopback_host(request: Request) -> None:
    """A route dependency for the token-less reads: 403 unless the Host header is loopback (DNS rebinding)."""
    host = request.headers.get("host")
    if not is_loopback_host(host):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Host {host!r} is not loopback: without a token this route answers only to localhost, "
            "127.0.0.1 or [::1] (against DNS rebinding); open it by a loopback address, or pass the token as "
            "'Authorization: Bearer <token>'",
        )


def _asset(name: str) -> bytes:
    return resources.files("director").joinpath("static", name).read_bytes()


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def tier_summary(tier: MeasurementTier | str | None) -> dict[str, Any] | None:
    """A measurement tier as the page shows it: its name, what it means, and whether it is informative only
    (never an MLPerf power result); None when it is not known (or not a tier)."""
    try:
        known = MeasurementTier(tier) if tier is not None else None
    except ValueError:
        known = None
    if known is None:
        return None
    return {"name": known.value, "description": tier_description(known), "informative": known in INFORMATIVE_TIERS}


def _result(folder: Path) -> ResultJson | None:
    try:
        return read_result_json(folder / "result.json")
    except FormatError:
        return None


def _summary(result: ResultJson | None) -> dict[str, Any] | None:
    """The result of a closed run in a line; None when it has none (or none that reads)."""
    if result is None:
        return None
    metric, efficiency = result.report.power_metric, result.report.efficiency
    return {
        "scenario": result.report.scenario,
        "power_metric": None if metric is None else metric.model_dump(),
        "efficiency": None if efficiency is None else efficiency.model_dump(),
        "verdict": result.check.verdict,
        "official_verdict": result.check.official_verdict,
    }


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every run folder under ``runs_dir`` (this director's and earlier ones), newest first."""
    runs = []
    folders = sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True) if runs_dir.is_dir() else []
    for folder in folders:
        try:
            record = read_session_json(folder / "session.json")
        except FormatError:
            continue
        result = _result(folder)
        # the analyzer's tier where the run has a result (it also reads the meter's Identify reply: mlpower-ptd
        # behind a ptd:// URL is a directly read analyzer), else the director's, from the meter URL
        tier = result.report.tier if result is not None and result.report.tier else record.tier
        runs.append(
            {
                "name": folder.name,
                "state": record.state,
                "simulated": record.simulated,
                "error": record.error,
                "tier": tier_summary(tier),
                "result": _summary(result),
                "report": f"{API_PREFIX}/runs/{folder.name}/report.html"
                if (folder / "report.html").is_file()
                else None,
            }
        )
    return runs


def _run_folder(runs_dir: Path, name: str) -> Path:
    if not RUN_NAME.fullmatch(name) or name in (".", ".."):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {name!r}")
    folder = runs_dir / name
    if folder.resolve().parent != runs_dir.resolve() or not (folder / "session.json").is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {name!r} under {runs_dir}")
    return folder


@dataclass(frozen=True)
class DashboardSource:
    """What the dashboard shows: a live feed, the snapshot each stream starts with, where the active session's
    events begin, whether the service is stopping (streams end), and the run folders, if any."""

    feed: LiveFeed
    snapshot: Callable[[], dict[str, Any]]
    active_first_seq: Callable[[], int | None]
    stopping: Callable[[], bool]
    runs_dir: Path | None = None


def director_source(director: Director) -> DashboardSource:
    """The director's sessions as the dashboard shows them."""

    def snapshot() -> dict[str, Any]:
        active = director.active
        # what a session here is measured with: the active one's tier, as session.json records it, else the URL's
        tier = active.tier if active is not None else tier_of_meter_url(director.meter_url)
        return {
            "version": package_version(),
            "meter_url": director.meter_url,
            "tier": tier_summary(tier),
            "interval_ms": director.config.interval_ms,
            "now_utc_ns": director.clock(),  # the page's elapsed times count on the director's clock, not its own
            "active": None if active is None else active.status().model_dump(mode="json"),
            "last_seq": director.feed.last_seq,
        }

    return DashboardSource(
        feed=director.feed,
        snapshot=snapshot,
        active_first_seq=lambda: director.active.feed.first_seq if director.active is not None else None,
        stopping=lambda: director.stopping,
        runs_dir=director.config.runs_dir,
    )


def add_dashboard(app: FastAPI, source: DashboardSource, read_auth: list[Depends]) -> None:
    router = APIRouter()
    feed = source.feed

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        # the page holds no data: it asks the read routes, which apply the token rule
        return HTMLResponse(_asset("dashboard.html").decode("utf-8"))

    @router.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(_plotly_js(), media_type="text/javascript")
        if name not in _ASSETS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no asset {name!r}")
        return Response(_asset(name), media_type=_ASSETS[name])

    @router.get(f"{API_PREFIX}/live", dependencies=read_auth)
    async def live(last_event_id: int | None = Header(default=None), since: str = "active") -> StreamingResponse:
        """Server-sent events: a snapshot, then power, gpu, marker and state events as they happen."""
        if last_event_id is not None:
            after = last_event_id
        elif since == "active":
            first = source.active_first_seq()
            after = first if first is not None else feed.last_seq
        elif since == "now":
            after = feed.last_seq
        else:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="since must be 'active' or 'now'")

        # the stream ends when the client goes (Starlette cancels it) or the director shuts down
        return StreamingResponse(
            sse_stream(feed, after, source.snapshot, source.stopping),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get(f"{API_PREFIX}/live/snapshot", dependencies=read_auth)
    async def live_snapshot() -> dict[str, Any]:
        """What a stream starts with, now: the page polls it for what no event tells (how long the agent has been
        silent)."""
        return source.snapshot()

    @router.get(f"{API_PREFIX}/runs", dependencies=read_auth)
    def runs() -> list[dict[str, Any]]:
        return list_runs(source.runs_dir) if source.runs_dir is not None else []

    @router.get(f"{API_PREFIX}/runs/{{name}}/report.html", dependencies=read_auth)
    def report(name: str) -> FileResponse:
        if source.runs_dir is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no run folders here")
        path = _run_folder(source.runs_dir, name) / "report.html"
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"run {name!r} has no report yet (not closed)")
        return FileResponse(path, media_type="text/html")

    app.include_router(router)

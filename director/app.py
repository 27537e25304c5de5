"""The director's HTTP API (FastAPI): sessions, phases, clock, uploads, results, metrics and the dashboard.

Every endpoint but ``GET /health`` needs ``Authorization: Bearer <token>`` (the dashboard's read-only
routes not on a loopback director, asked through a loopback ``Host``). Routes live in :mod:`director.routes`,
one module per concern. ``/docs`` and ``/redoc`` load their scripts from this director (fastapi-offline's copies
of Swagger UI and ReDoc), never from a CDN: a lab network is often offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from director.dashboard import add_dashboard, director_source
from director.limits import MAX_JSON_BODY_BYTES, BodyLimit
from director.registry import Director
from director.routes import nodes, phases, service, sessions, sut
from director.routes.common import READ_AUTH, ApiError, install_error_replies
from powerlog.cli_support import package_version

__all__ = ["DOCS_ASSETS_URL", "ApiError", "Director", "create_app"]

DOCS_ASSETS_URL = "/static/docs"  # Swagger UI's and ReDoc's scripts and styles, served from the package


def create_app(director: Director) -> FastAPI:
    app = FastAPIOffline(
        title="mlpower director",
        version=package_version(),
        description="Wall-power measurement sessions for MLPerf Inference (ranging and testing phases).",
        static_url=DOCS_ASSETS_URL,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    app.state.director = director
    install_error_replies(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_JSON_BODY_BYTES, exempt=lambda path: "/files/" in path)
    for module in (service, sessions, phases, sut, nodes):
        app.include_router(module.router)
    add_dashboard(app, director_source(director), READ_AUTH)
    return app

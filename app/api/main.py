"""App assembly: settings, lifespan (open the storage once), middleware, error handlers, routers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api import analysis, catalog, errors, maps, ogc, tiles
from app.api.middleware import BodyLimit, FollowStorage, RateLimit, ResponseCache
from app.api.service import Service, follow, follow_due
from app.api.settings import ServiceSettings
from app.store import Store


def create_app(settings: ServiceSettings | None = None, store: Store | None = None) -> FastAPI:
    """The corridor service; `store` lets tests and embedders pass an already built catalog."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not hasattr(app.state, "service"):
            app.state.service = Service.start(settings, store)
        yield

    app = FastAPI(
        title=settings.title,
        description=settings.description,
        version=__version__,
        openapi_url="/api",
        docs_url="/api.html",
        redoc_url=None,
        lifespan=lifespan,
        responses=errors.PROBLEM_RESPONSES,
    )
    app.state.settings = settings
    if store is not None:
        app.state.service = Service.start(settings, store)
    errors.install(app)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "PATCH", "HEAD", "OPTIONS"],
                       allow_headers=["*"], expose_headers=["ETag", "Content-Crs"])  # fmt: skip
    app.add_middleware(ResponseCache, version=lambda scope: scope["app"].state.service.store.version,
                       prefixes=("/collections", "/tiles/", "/conformance", "/analysis/areas"),
                       entries=settings.tile_cache_size)  # fmt: skip
    app.add_middleware(FollowStorage, due=lambda state: follow_due(state, settings),
                       follow=lambda state: follow(state, settings))  # fmt: skip
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    for module in (ogc, tiles, analysis, catalog, maps):
        app.include_router(module.router)
    return app

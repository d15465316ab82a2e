"""Property-based API tests: schemathesis drives every OpenAPI operation in-process (ASGI, no network)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.main import create_app
from app.api.settings import ServiceSettings
from app.store import Store

STORE = Store.build()
APP = create_app(ServiceSettings(rate_limit_per_minute=0), store=STORE)
schema = schemathesis.openapi.from_asgi("/api", APP)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HEAVY = "^/map"  # Folium pages of several MB each: the same checks, fewer examples

KNOWN_FAILURES: dict[str, str] = {}


def _validate(case, request: pytest.FixtureRequest) -> None:
    reason = KNOWN_FAILURES.get(case.operation.label)
    if reason:
        request.node.add_marker(pytest.mark.xfail(strict=False, reason=reason))
    case.call_and_validate(checks=CHECKS)


@schema.exclude(path_regex=HEAVY).parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api(case, request):
    _validate(case, request)


@schema.include(path_regex=HEAVY).parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_maps(case, request):
    _validate(case, request)

"""A bounded property-based fuzz of the API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, as an admin; no answer may be a
5xx, a status the document does not list, or a body that breaks the documented schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from feedkit import Feed, running_feed, seed, sqlite_openers
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.feed.openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, make_detection: Callable[..., Any]
) -> Iterator[Feed]:
    path = tmp_path_factory.mktemp("fuzz") / "alerts.sqlite"
    with running_feed(*sqlite_openers(path)) as feed:
        feed.ids = seed(feed.store, make_detection)
        yield feed


SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


# schemathesis' own pytest plugin does not run under pytest 9 yet: drive Hypothesis directly.
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_5xx_and_no_response_outside_the_document(
    operation: Any, mode: GenerationMode, live: Feed
) -> None:
    headers = {"Authorization": f"Bearer {live.tokens['root']}"}
    known = {}
    if "{alert_id}" in operation.path and mode is GenerationMode.POSITIVE:
        known = {"path_parameters": {"alert_id": live.ids["night"]}}  # reach real alerts

    @given(case=operation.as_strategy(generation_mode=mode, **known))
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS, timeout=10)

    fuzz()

"""schemathesis fuzzes the served scorer from its own /openapi.json: no 5xx, and 422s name the field.

Valid and invalid requests (schemathesis' positive and negative modes) go through uvicorn to the
app with a model loaded, so /readyz is 200 and every /v1/score runs the whole decision path.
No Kafka: producer and follower are None, so the analyst's routes may only answer their 503.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from scoring.serving.app import create_app
from scoring.serving.model import publish_artifact
from scoring.serving.settings import ScorerSettings
from tests.integration._served import served
from tests.unit.scoring.builders import CFG, artifact

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

EXAMPLES = 200

# Fields of the request, to recognise a whole-body error (e.g. "give exactly one of `pan` or `card_token`").
_FIELDS = ("pan", "card_token", "swipe_id", "amount", "event_time", "explain")
# Errors about the body as a whole (not an object, absent): loc ["body"] is the field they name.
# Errors about the body as a whole (not an object, not JSON at all): `body` is the field they name.
_WHOLE_BODY = {"model_attributes_type", "dict_type", "missing", "json_invalid"}


@pytest.fixture
def scorer_url(tmp_path: Path) -> Iterator[str]:
    scorer = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
    )
    publish_artifact(artifact({"velocity_600_count": 1.0, "amount_z": 0.5}), tmp_path / "models")
    with served(create_app(scorer)) as url:
        yield url


# schemathesis.pytest.from_fixture does not run under pytest 9 (`Function` has no `_nodeid`), so each
# operation's strategy is drawn with hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_scorer_survives_generated_requests(scorer_url: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{scorer_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert {op.path for op in operations} >= {"/v1/score", "/healthz", "/readyz"}
    statuses: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        inputs = (operation.body, operation.query, operation.headers, operation.path_parameters)
        if mode is GenerationMode.NEGATIVE and not any(len(i) for i in inputs):
            continue  # nothing to make invalid (GET /healthz): hypothesis would find no example

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # CI runs the same examples every time: a failure is reproducible, not luck
        )
        def survives(case: Any) -> None:
            response = case.call(timeout=10)
            statuses[(case.path, response.status_code)] += 1
            check(case, response)

        survives()
    # The run must have reached the decision path and the validation path, or it proved nothing.
    print(f"{mode.value}: responses by status {dict(statuses)}")
    scored = statuses[("/v1/score", 200)]
    assert scored > 0 and (mode is GenerationMode.POSITIVE or statuses[("/v1/score", 422)] > 0), statuses


# The analyst's routes answer only once Kafka confirmed their records; this scorer has no producer,
# so a valid verdict or label gets their documented 503 (test_openapi_conformance runs them on a broker).
_NEEDS_KAFKA = ("/v1/reviews/", "/v1/labels")


def check(case: Any, response: Any) -> None:
    if response.status_code == 503 and case.path.startswith(_NEEDS_KAFKA):
        assert "no Kafka producer" in response.text, response.text
        case.validate_response(response, checks=[response_schema_conformance])
        return
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    # Even a body that is not UTF-8 is a 422 naming `body`, never FastAPI's bare 400.
    assert response.status_code != 400, (case.body, response.text)
    if response.status_code == 422:
        for entry in response.json()["detail"]:
            assert "input" not in entry, "a 422 must not echo the input: it could be a card number"
            loc = entry.get("loc")
            assert isinstance(loc, list) and loc and loc[0] in ("body", "query", "path"), entry
            names_field = (
                len(loc) >= 2
                or entry["type"] in _WHOLE_BODY
                or any(f"`{f}`" in entry["msg"] for f in _FIELDS)
            )
            assert names_field, f"422 entry names no field: {entry}"

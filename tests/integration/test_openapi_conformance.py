"""`schemathesis run <scorer>/openapi.json --checks all`, the CLI as a user runs it: 0 failures.

Run from the repository root, so schemathesis.toml loads tests/schemathesis_hooks.py (values for the
`card-number` format). Once with no API token (no security scheme in the document) and once with one
(requests without it must get 401). The scorer has a model and a real producer to the session's broker
(the analyst's routes answer once Kafka confirmed a label); no follower.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.reviews import ReviewQueue, open_case
from scoring.serving.settings import ScorerSettings
from streaming.schema import Swipe
from tests.integration._served import served
from tests.unit.scoring.builders import CFG, T0, TOKEN, artifact, swipe

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
API_TOKEN = "conformance-test-token"
OPEN_CASE = open_case(
    Swipe(**{**swipe(1).model_dump(), "swipe_id": "sw-conformance"}, card_token=TOKEN, decision="approve"),
    0.3,
    "v1",
    [("rule:large-amount", "a large amount", "review")],
    {"amount_log": 3.0},
    T0,
)


@pytest.fixture(params=[None, API_TOKEN], ids=["no-token", "token"])
def scorer(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> Iterator[tuple[str, str | None]]:
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_decisions=topic_factory("decisions"),
        topic_labels=topic_factory("labels"),
        topic_reviews=topic_factory("reviews", compacted=True),
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
        api_token=request.param,
    )
    publish_artifact(artifact({"velocity_600_count": 1.0, "amount_z": 0.5}), tmp_path / "models")
    producer = build_producer(settings)
    reviews = ReviewQueue()
    reviews.upsert(OPEN_CASE)  # the case schemathesis.toml sends verdicts for
    with served(create_app(settings, producer=producer, reviews=reviews)) as url:
        yield url, request.param
    producer.flush(10)


def test_schemathesis_all_checks_find_nothing(scorer: tuple[str, str | None]) -> None:
    url, token = scorer
    auth = ["--header", f"Authorization: Bearer {token}"] if token else []
    done = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all", "--seed", "1", *auth],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = done.stdout[-4000:]
    assert "Configuration:    " in done.stdout and "schemathesis.toml" in done.stdout, report
    assert done.returncode == 0, report
    assert "No issues found" in done.stdout, report

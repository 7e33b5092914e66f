"""`fraudstream train`: its options, the window they make, and the hot swap of what it trains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from scoring.serving.app import create_app
from scoring.serving.model import publish_artifact
from scoring.serving.online import OnlineFeatureTable
from scoring.serving.settings import ScorerSettings
from services.training.trainer import delta_window, parse_duration, parse_utc, train_on_generated
from tests.unit.scoring.builders import CFG, T0, TOKEN, artifact, swipe


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800), ("0", 0), ("1.5h", 5400), (" 2D ", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "message"), [("soon", "not a duration"), ("-3d", "negative"), ("", "not")])
def test_a_bad_duration_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T09:30", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        ("2026-11-01T10:30+01:00", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_dates_are_utc(text: str, moment: datetime) -> None:
    assert parse_utc(text) == moment


def test_a_bad_date_shows_an_example() -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 2026-11-01"):
        parse_utc("yesterday")


def test_the_window_ends_at_to_and_labels_are_known_as_of_to_by_default() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    window, cutoff = delta_window(None, 30, None, "7d", now=now)
    assert (window.start, window.end) == (now - timedelta(days=30), now)
    assert cutoff.as_of == now and cutoff.settled_before == now - timedelta(days=7)
    window, cutoff = delta_window("2026-11-10", 5, "2026-11-20", "1d", now=now)
    assert window.start == datetime(2026, 11, 5, tzinfo=UTC)
    assert cutoff.as_of == datetime(2026, 11, 20, tzinfo=UTC)
    assert window.usable_end(cutoff) == window.end  # settled by as_of: the whole window trains


def test_a_trained_model_is_swapped_into_a_running_scorer(tmp_path: Path) -> None:
    models = tmp_path / "models"
    publish_artifact(artifact(), models)
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
    )
    app = create_app(
        settings,
        table=OnlineFeatureTable(),
        follower=SimpleNamespace(ready=True, lag=0, malformed=0),
        producer=None,
        registry=CollectorRegistry(),
        clock=lambda: T0,
    )
    body = {**swipe(1).model_dump(mode="json"), "card_token": TOKEN}
    with TestClient(app) as client:
        assert client.post("/v1/score", json=body).json()["model_version"] == "test-1"
        report = train_on_generated(
            models, b"k" * 32, CFG, seed=3, cards=300, days=4, end=T0, progress=lambda _: None
        )
        assert report.path == models / "current.json" and report.fraud > 0
        # No restart: the next request is decided by the model just trained.
        served = client.post("/v1/score", json=body).json()
        assert served["model_version"] == report.artifact.version != "test-1"
        assert client.get("/readyz").json()["model"] == report.artifact.version

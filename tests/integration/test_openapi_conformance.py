"""`schemathesis run <scorer>/openapi.json --checks all`, the CLI as a user runs it: 0 failures.

Run from the repository root, so schemathesis.toml loads tests/schemathesis_hooks.py (values for the
`card-number` format). Once with no API token (no security scheme in the document) and once with one
(requests without it must get 401). The scorer has a model and no Kafka (producer and follower None).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring.app import create_app
from scoring.model import publish_artifact
from scoring.settings import ScorerSettings
from tests.integration._served import served
from tests.unit.scoring.builders import CFG, artifact

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
TOKEN = "conformance-test-token"


@pytest.fixture(params=[None, TOKEN], ids=["no-token", "token"])
def scorer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
        api_token=request.param,
    )
    publish_artifact(artifact({"velocity_600_count": 1.0, "amount_z": 0.5}), tmp_path / "models")
    with served(create_app(settings)) as url:
        yield url, request.param


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

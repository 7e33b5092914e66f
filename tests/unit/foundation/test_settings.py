"""List settings take the comma form; a bad setting reads as one line naming the variable and an example."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.settings import StackSettings, comma_or_json_list, derive, setting_problems
from scoring.serving.settings import ScorerSettings
from streaming.schema import Swipe
from streaming.settings import StreamSettings


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("600,3600,86400", ["600", "3600", "86400"]),
        (" 600 , 86400 ", ["600", "86400"]),
        ("600", ["600"]),
        ("[600, 3600]", [600, 3600]),
        ([600], [600]),  # not from the environment: left to the field's own validation
    ],
)
def test_a_list_setting_takes_commas_or_json(raw: object, parsed: object) -> None:
    assert comma_or_json_list(raw) == parsed


@pytest.mark.parametrize("text", ["600,86400", "[600, 86400]", "86400,600,600"])
def test_the_horizons_variable_in_either_form(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("FRAUDSTREAM_HORIZONS_S", text)
    for cls in (StreamSettings, ScorerSettings):
        assert cls(_env_file=None).horizons_s == [600, 86400]  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("variable", "value", "cls", "says"),
    [
        (
            "FRAUDSTREAM_HORIZONS_S",
            "600,x",
            StreamSettings,
            "FRAUDSTREAM_HORIZONS_S='600,x': Input should be a valid integer, unable to parse string as an "
            "integer; expected whole seconds separated by commas (or a JSON list), "
            "e.g. FRAUDSTREAM_HORIZONS_S=600,3600,86400,604800,2592000",
        ),
        (
            "FRAUDSTREAM_TOPIC_PARTITIONS",
            "0",
            StackSettings,
            "FRAUDSTREAM_TOPIC_PARTITIONS='0': Input should be greater than or equal to 1; "
            "expected a whole number, e.g. FRAUDSTREAM_TOPIC_PARTITIONS=2",
        ),
        (
            "FRAUDSTREAM_TRIGGER_S",
            "soon",
            StreamSettings,
            "FRAUDSTREAM_TRIGGER_S='soon': Input should be a valid number, unable to parse string as a "
            "number; expected a number, e.g. FRAUDSTREAM_TRIGGER_S=1.0",
        ),
        (  # a check across settings keeps its own sentence, which names the variable
            "FRAUDSTREAM_WATERMARK_S",
            "7200",
            StreamSettings,
            "watermark_s 7200 is longer than the 3600 s after which readers take a card tile as final; "
            "set FRAUDSTREAM_WATERMARK_S to at most 3600",
        ),
    ],
)
def test_a_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, cls: type[StackSettings], says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        cls(_env_file=None)  # type: ignore[call-arg]
    assert setting_problems(caught.value) == [says]


def test_an_error_that_is_not_about_settings_is_left_to_the_caller() -> None:
    with pytest.raises(ValidationError) as caught:
        Swipe.model_validate({"swipe_id": "s"})
    assert setting_problems(caught.value) is None


def test_derived_settings_keep_what_the_command_resolved_and_read_only_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("FRAUDSTREAM_WATERMARK_S", "300")
    monkeypatch.setenv("FRAUDSTREAM_HORIZONS_S", "600,3600")
    command = StackSettings(state_dir=tmp_path / "demo", topic_swipes="demo-swipes")
    stream = derive(StreamSettings, command, kafka_bootstrap="b:9092")
    assert (stream.state_dir, stream.topic_swipes) == (tmp_path / "demo", "demo-swipes")
    assert stream.delta_path == str(tmp_path / "demo" / "delta")
    assert stream.kafka_bootstrap == "b:9092" and command.kafka_bootstrap is None
    assert (stream.watermark_s, stream.horizons_s) == (300, [600, 3600])  # not in StackSettings: the env's
    scorer = derive(ScorerSettings, stream)
    assert scorer.horizons_s == [600, 3600] and scorer.state_dir == tmp_path / "demo"


def test_settings_env_rebuilds_the_same_settings_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from foundation.settings import settings_env

    resolved = StreamSettings(  # type: ignore[call-arg]
        _env_file=None,
        kafka_bootstrap="b1:9092,b2:9092",
        token_key=SecretStr("a-real-key"),
        horizons_s=[300, 3600],
        history_apart=False,
        max_offsets_per_trigger=None,
        trigger_s=0.25,
        state_dir=Path("/srv/fraudstream"),
    )
    env = settings_env(resolved)
    assert env["FRAUDSTREAM_TOKEN_KEY"] == "a-real-key"  # the secret itself, not its mask
    assert env["FRAUDSTREAM_HORIZONS_S"] == "[300, 3600]"
    assert env["FRAUDSTREAM_HISTORY_APART"] == "false"
    assert "FRAUDSTREAM_MAX_OFFSETS_PER_TRIGGER" not in env  # unset stays unset
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDSTREAM_"):
            monkeypatch.delenv(name)
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    rebuilt = StreamSettings(_env_file=None)  # type: ignore[call-arg]
    assert rebuilt == resolved
    assert rebuilt.token_key.get_secret_value() == "a-real-key"

"""The backtest's inputs follow the file: the fields it carries, merchant inputs from reported labels only,
and a minimal file (card, merchant, amount, time, label) trained and scored with merchant risk."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from scoring.serving.inputs import FIELD_INPUTS
from scoring.serving.merchant_inputs import MERCHANT_PREFIX
from services.backtest.data import BACKTEST_MAPPING
from services.backtest.merchant import file_fields, merchant_rows
from services.backtest.report import html_report
from services.backtest.run import read_file, run_backtest, split_mapping
from streaming.merchant_state import DEFAULT_MERCHANT
from tests.unit.services.backtest.builders import CONFIG, KEY, SPEC

MINIMAL_MAP = "card=card,merchant=merchant,amount=amount,time=time,label=label,id=id"


@pytest.mark.parametrize(
    ("mapping", "blank", "expected"),
    [
        (BACKTEST_MAPPING, [], ("merchant", "mcc", "country", "channel", "position")),
        (MINIMAL_MAP, [], ("merchant",)),
        ("card=card,amount=amount,time=time,label=label", [], ()),
        # mapped, but one value only or no position anywhere: says nothing, so no input
        (BACKTEST_MAPPING, ["country", "lat"], ("merchant", "mcc", "channel")),
    ],
)
def test_the_fields_are_those_mapped_that_say_something(
    history: Path,
    mapping: str,
    blank: list[str],
    expected: tuple[str, ...],
) -> None:
    cmap, reported = split_mapping(mapping)
    frame = read_file(history, cmap, reported)
    for column in blank:
        frame[column] = "FR" if column == "country" else None
    assert file_fields(frame, cmap) == expected


def test_a_label_reaches_merchant_inputs_only_after_it_is_reported(history: Path) -> None:
    """Flipping every label from T on changes no merchant input before T + the label delay."""
    cmap, reported = split_mapping(MINIMAL_MAP)
    frame = read_file(history, cmap, reported)
    cut = frame["__t__"].min() + timedelta(days=4)
    flipped = frame.copy()
    later = flipped["__t__"] >= cut
    flipped.loc[later, "label"] = 1 - flipped.loc[later, "label"]
    before = merchant_rows(frame, cmap, reported, KEY, DEFAULT_MERCHANT, 1)
    after = merchant_rows(flipped, cmap, reported, KEY, DEFAULT_MERCHANT, 1)
    t = frame.set_index(frame["__row__"].astype(int))["__t__"].reindex(before.index)
    settled = (t < cut + timedelta(seconds=DEFAULT_MERCHANT.label_delay_s)).to_numpy()
    assert before[settled].equals(after[settled])
    assert before.loc[settled, f"{MERCHANT_PREFIX}unknown"].lt(1).any()


def test_a_minimal_file_trains_and_scores_with_merchant_risk(history: Path, tmp_path: Path) -> None:
    minimal = tmp_path / "minimal.parquet"
    pd.read_parquet(history)[["id", "card", "merchant", "amount", "time", "label"]].to_parquet(minimal)
    got = run_backtest(minimal, MINIMAL_MAP, SPEC, KEY, CONFIG)
    used = set(got.artifact.features)
    assert got.fields == ("merchant",) and got.artifact.swipe_fields == ["merchant"]
    assert got.artifact.reads_merchant and f"{MERCHANT_PREFIX}fraud_604800_rate" in used
    assert not used & {n for f, names in FIELD_INPUTS.items() if f != "merchant" for n in names}
    assert not any(p.category == "mcc" for p in got.artifact.priors)
    assert got.model.average_precision is not None and got.test_rows > 0
    assert set(got.candidates) == {"logistic", "gbm"}  # auto: both fitted and measured on the test
    page = html_report(got)
    assert got.artifact.selection is not None and got.artifact.selection.summary() in page
    assert "merchant; merchant inputs on" in page
    off = run_backtest(minimal, MINIMAL_MAP, replace(SPEC, merchant=None), KEY, CONFIG)
    assert not off.artifact.reads_merchant and off.test_rows == got.test_rows

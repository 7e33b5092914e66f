"""A file's rows as the scorer sees them: mapped like `replay --file`, folded per card, rules evaluated.

Cards are independent, so the rows are split by card across worker processes; each worker walks its
cards' swipes in time order with the stream's fold (`streaming.card_state`) and the scorer's
request-time features, exactly as `scoring.training.fit.labeled_rows` does (a unit test holds the two
equal), and also evaluates the scorer's rules, which need the request-time features themselves.
The scorer's own denials would feed back into the card's denied counts; the file says nothing about
them, so, as in training, every swipe counts as authorized elsewhere.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from foundation.card_tokens import PAN_SEPARATORS
from scoring.serving.model import input_names, model_inputs
from scoring.serving.rules import RuleSet, context_names, load_rules, rule_context
from scoring.training.fit import as_scored, categories_of
from services.replay.file import BadRow, ColumnMap, map_rows
from streaming.card_state import CardState, FeatureConfig, fold
from streaming.schema import Swipe

ROW_COLUMN = "__row__"  # the 1-based file row; it is each swipe's id inside the backtest
CARD_KEY = "__card__"
TIME_KEY = "__t__"
VERDICT_NONE, VERDICT_DENY, VERDICT_APPROVE = 0, 1, 2
CHUNK_ROWS = 20_000


@dataclass
class FeatureTable:
    """One row per mapped swipe: where it came from, what the model and rules see, the label."""

    row: np.ndarray  # int64, 1-based file row
    t: np.ndarray  # float64, event time in epoch seconds
    card: np.ndarray  # object, card token
    x: np.ndarray  # float64 (rows, inputs), in `input_names(config)` order
    categories: list[dict[str, str]]  # what category priors read
    verdict: np.ndarray  # int8: VERDICT_*, what the rules decided before any model
    rule: np.ndarray  # object: the deciding rule's id, "" when none
    y: np.ndarray  # bool, the file's label
    bad: list[BadRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, index: np.ndarray) -> FeatureTable:
        return FeatureTable(
            self.row[index],
            self.t[index],
            self.card[index],
            self.x[index],
            [self.categories[i] for i in index.tolist()],
            self.verdict[index],
            self.rule[index],
            self.y[index],
            list(self.bad),
        )


def concat(tables: list[FeatureTable], width: int) -> FeatureTable:
    """The tables' rows together, ordered by event time then file row (the order of the file)."""
    row = np.concatenate([t.row for t in tables]) if tables else np.zeros(0, np.int64)
    merged = FeatureTable(
        row,
        np.concatenate([t.t for t in tables]) if tables else np.zeros(0),
        np.concatenate([t.card for t in tables]) if tables else np.zeros(0, object),
        np.concatenate([t.x for t in tables]) if tables else np.zeros((0, width)),
        [c for t in tables for c in t.categories],
        np.concatenate([t.verdict for t in tables]) if tables else np.zeros(0, np.int8),
        np.concatenate([t.rule for t in tables]) if tables else np.zeros(0, object),
        np.concatenate([t.y for t in tables]) if tables else np.zeros(0, bool),
        sorted((b for t in tables for b in t.bad), key=lambda b: b.row),
    )
    return merged.take(np.lexsort((merged.row, merged.t)))


def card_keys(raw: pd.Series) -> pd.Series:
    """The card column without blanks and dashes: one key per card, however its PAN was spelled."""
    return raw.astype("string").fillna("").str.replace(PAN_SEPARATORS, "", regex=True)


def worker_of(keys: pd.Series, workers: int) -> np.ndarray:
    """A stable worker index per card key (crc32, not Python's per-process salted hash)."""
    codes, uniques = pd.factorize(keys)
    per_key = np.array([zlib.crc32(str(k).encode()) % workers for k in uniques], dtype=np.int64)
    return per_key[codes] if len(codes) else np.zeros(0, np.int64)


def feature_rows(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    token_key: bytes,
    config: FeatureConfig,
    rules_path: Path | None,
    progress: Callable[[int], None] = lambda _: None,
) -> FeatureTable:
    """Map, fold and evaluate the rules over `frame`, which holds whole cards.

    `frame` has the mapped columns plus ROW_COLUMN, CARD_KEY and TIME_KEY (see `services.backtest.run`).
    It is walked card by card in time order, so a card's state is dropped once its swipes are done.
    """
    rules = load_rules(rules_path, context_names(config)) if rules_path is not None else RuleSet()
    ordered = frame.sort_values([CARD_KEY, TIME_KEY, ROW_COLUMN], kind="mergesort")
    inner = replace(cmap, id=ROW_COLUMN)
    names = input_names(config)
    parts: list[FeatureTable] = []
    states: dict[str, CardState] = {}
    for lo in range(0, len(ordered), CHUNK_ROWS):
        chunk = ordered.iloc[lo : lo + CHUNK_ROWS]
        mapped = map_rows(chunk, inner, token_key, 1, "backtest")
        rows = chunk[ROW_COLUMN].to_numpy()
        bad = [replace(b, row=int(rows[b.row - 1])) for b in mapped.bad]
        parts.append(_walk(mapped.swipes, mapped.labels, states, names, config, rules, bad))
        # Only the chunk's last card may go on in the next chunk; every other card is done.
        last = chunk[CARD_KEY].iloc[-1]
        continuing = set(chunk.loc[chunk[CARD_KEY] == last, ROW_COLUMN])
        keep = {s.card_token for s in mapped.swipes if s.swipe_id in continuing}
        states = {token: state for token, state in states.items() if token in keep}
        progress(len(chunk))
    return concat(parts, len(names))


def _walk(
    swipes: list[Swipe],
    labels: list[bool | None],
    states: dict[str, CardState],
    names: list[str],
    config: FeatureConfig,
    rules: RuleSet,
    bad: list[BadRow],
) -> FeatureTable:
    n = len(swipes)
    x = np.zeros((n, len(names)))
    verdict = np.zeros(n, np.int8)
    rule = np.full(n, "", dtype=object)
    categories = []
    for i, swipe in enumerate(swipes):
        # The step of scoring.training.fit.labeled_rows, plus the rules: features from earlier swipes only.
        state = states.get(swipe.card_token)
        card, rf = as_scored(state, swipe, config)
        inputs = model_inputs(card, rf)
        x[i] = [inputs[name] for name in names]
        categories.append(categories_of(swipe))
        fired = rules.fired(rule_context(inputs, rf, swipe, swipe.card_token))
        for action, code in (("deny", VERDICT_DENY), ("approve", VERDICT_APPROVE)):
            hit = next((r for r in fired if r.action == action), None)
            if hit is not None:
                verdict[i], rule[i] = code, hit.id
                break
        states[swipe.card_token] = fold(state or CardState(), [swipe], config)
    return FeatureTable(
        np.array([int(s.swipe_id) for s in swipes], dtype=np.int64),
        np.array([s.event_time.timestamp() for s in swipes]),
        np.array([s.card_token for s in swipes], dtype=object),
        x,
        categories,
        verdict,
        rule,
        np.array([bool(v) for v in labels], dtype=bool),
        bad,
    )

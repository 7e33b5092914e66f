"""Category fraud priors: smoothed fraud rates per category value, learned from training labels only.

A prior turns a category (the merchant category code, say) into one number the model can use: the
log-odds of its smoothed fraud rate minus the log-odds of the overall rate, so 0 means "as risky as
any swipe" and an unseen value is exactly 0:

    prior(v) = logit((fraud(v) + m * base) / (swipes(v) + m)) - logit(base)

During training every row gets the prior of the labels *before* it only (point in time), so a
swipe's own label, and any later one, never reaches its input. The artifact keeps the table of the
whole training split, which is all in the validation split's past.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

PRIOR_SUFFIX = "_prior"


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class CategoryPrior(BaseModel):
    """Fraud and swipe counts per value of one category, with the smoothing to turn them into inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str  # the request value it reads: mcc, country, channel, ...
    smoothing: float = Field(gt=0)  # pseudo-swipes at the base rate
    base_rate: float = Field(gt=0, lt=1)
    counts: dict[str, tuple[int, int]]  # value -> (fraud, swipes)

    @property
    def input_name(self) -> str:
        return f"{self.category}{PRIOR_SUFFIX}"

    # Every value's input computed once per artifact (cached_property: the model is frozen), so a
    # request looks it up rather than taking two logarithms; an unseen value's is `unseen_input`.
    @cached_property
    def inputs_by_value(self) -> dict[str, float]:
        return {
            v: _smoothed(fraud, swipes, self.base_rate, self.smoothing)
            for v, (fraud, swipes) in self.counts.items()
        }

    @cached_property
    def unseen_input(self) -> float:
        return _smoothed(0, 0, self.base_rate, self.smoothing)

    def value(self, category_value: object) -> float:
        return self.inputs_by_value.get(str(category_value), self.unseen_input)


def _smoothed(fraud: int, swipes: int, base: float, m: float) -> float:
    rate = (fraud + m * base) / (swipes + m)
    return _logit(rate) - _logit(base)


def point_in_time_priors(
    rows: Sequence[tuple[datetime, Mapping[str, object], bool]],
    categories: Iterable[str],
    *,
    smoothing: float = 50.0,
) -> tuple[list[dict[str, float]], list[CategoryPrior]]:
    """Per row, each category's prior from the labels of strictly earlier rows; and the final tables.

    `rows` are (event time, category values, is_fraud) in time order. Rows with equal times see
    none of each other's labels. The base rate is the whole split's (one number, no row's label in
    particular), floored so that a split without fraud still gives finite priors.
    """
    names = list(categories)
    n = len(rows)
    base = min(max(sum(label for _, _, label in rows) / max(n, 1), 1e-4), 1 - 1e-4)
    counts: dict[str, dict[str, list[int]]] = {c: {} for c in names}
    out: list[dict[str, float]] = []
    pending: list[tuple[Mapping[str, object], bool]] = []
    previous: datetime | None = None
    for t, values, label in rows:
        if previous is not None and t < previous:
            raise ValueError("rows must be in time order: sort them by event time first")
        if t != previous:
            _count(counts, pending)  # the labels of earlier instants become known
            pending = []
            previous = t
        row = {}
        for c in names:
            fraud, swipes = counts[c].get(str(values.get(c)), (0, 0))
            row[f"{c}{PRIOR_SUFFIX}"] = _smoothed(fraud, swipes, base, smoothing)
        out.append(row)
        pending.append((values, label))
    _count(counts, pending)
    tables = [
        CategoryPrior(
            category=c,
            smoothing=smoothing,
            base_rate=base,
            counts={v: (k[0], k[1]) for v, k in sorted(counts[c].items())},
        )
        for c in names
    ]
    return out, tables


def _count(counts: dict[str, dict[str, list[int]]], rows: list[tuple[Mapping[str, object], bool]]) -> None:
    for values, label in rows:
        for c, table in counts.items():
            k = table.setdefault(str(values.get(c)), [0, 0])
            k[0] += label
            k[1] += 1

"""Declarative rules from a TOML file: structured clauses over named inputs, no `eval`.

    [lists]
    stolen_cards = ["ct_..."]

    [[rule]]
    id = "impossible-travel"
    action = "deny"                       # deny | review | approve
    description = "Faster than an airliner since the card's last swipe."
    when = [
      { input = "travel_kmh", op = ">", value = 1000 },
      { input = "distance_km", op = ">=", value = 100 },
    ]
    # or { input = "card_token", op = "in", list = "stolen_cards" }

Every clause of a rule must hold (AND); write two rules for OR. A clause over an unknown value
(e.g. no previous location) does not hold. Precedence: any `deny` rule denies; otherwise any
`approve` rule approves (an override of the model); `review` rules only flag the decision.
"""

from __future__ import annotations

import operator
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scoring.serving.model import input_names
from scoring.serving.request_features import RequestFeatures
from streaming.card_state import FeatureConfig
from streaming.schema import SwipeDetails

Action = Literal["deny", "review", "approve"]
ContextValue = float | str | None

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_MEMBERSHIP = ("in", "not in")
_TEXT_INPUTS = ("card_token", "country", "currency", "mcc", "merchant_id", "channel")


def context_names(config: FeatureConfig) -> set[str]:
    """Every name a rule may use: the model inputs plus raw request values."""
    raw = {"amount", "travel_kmh", "distance_km", "seconds_since_last", *_TEXT_INPUTS}
    raw |= {f"velocity_{h}_amount" for h in config.horizons_s}
    return set(input_names(config)) | raw


def rule_context(
    inputs: Mapping[str, float], rf: RequestFeatures, swipe: SwipeDetails, card_token: str
) -> dict[str, ContextValue]:
    """What rules see: the model inputs, raw amounts and distances (None when unknown) and the swipe."""
    ctx: dict[str, ContextValue] = dict(inputs)
    ctx.update(
        amount=swipe.amount,
        travel_kmh=rf.travel_kmh,
        distance_km=rf.distance_km,
        seconds_since_last=rf.seconds_since_last,
        card_token=card_token,
        country=swipe.country,
        currency=swipe.currency,
        mcc=swipe.mcc,
        merchant_id=swipe.merchant_id,
        channel=swipe.channel,
    )
    for w in rf.windows:
        ctx[f"velocity_{w.horizon_s}_amount"] = w.amount_sum
    return ctx


@dataclass(frozen=True)
class Clause:
    input: str
    op: str
    value: float | str | frozenset[str | float]

    def holds(self, ctx: Mapping[str, ContextValue]) -> bool:
        actual = ctx.get(self.input)
        if actual is None:
            return False
        if self.op == "in":
            return actual in self.value  # type: ignore[operator]
        if self.op == "not in":
            return actual not in self.value  # type: ignore[operator]
        if isinstance(actual, str) != isinstance(self.value, str):
            return False
        return _COMPARE[self.op](actual, self.value)


@dataclass(frozen=True)
class Rule:
    id: str
    action: Action
    description: str
    when: tuple[Clause, ...]

    def fires(self, ctx: Mapping[str, ContextValue]) -> bool:
        return all(c.holds(ctx) for c in self.when)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()

    def fired(self, ctx: Mapping[str, ContextValue]) -> list[Rule]:
        return [r for r in self.rules if r.fires(ctx)]


def parse_rules(text: str, known_inputs: set[str] | None = None) -> RuleSet:
    """Parse and check a rules document; ValueError names the rule and what is wrong with it."""
    doc = tomllib.loads(text)
    unknown_top = set(doc) - {"lists", "rule"}
    if unknown_top:
        raise ValueError(f"unknown top-level keys {sorted(unknown_top)}; expected [lists] and [[rule]]")
    lists = doc.get("lists", {})
    if not isinstance(lists, dict) or not all(isinstance(v, list) for v in lists.values()):
        raise ValueError("[lists] must map names to arrays, e.g. stolen_cards = ['ct_...']")
    rules, seen = [], set()
    for i, raw in enumerate(doc.get("rule", [])):
        where = f"rule #{i + 1} ({raw.get('id', 'no id')})"
        extra = set(raw) - {"id", "action", "description", "when"}
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}")
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id or rule_id in seen:
            raise ValueError(f"{where}: `id` must be a unique non-empty string")
        seen.add(rule_id)
        action = raw.get("action")
        if action not in ("deny", "review", "approve"):
            raise ValueError(f"{where}: `action` must be deny, review or approve, not {action!r}")
        clauses = raw.get("when")
        if not isinstance(clauses, list) or not clauses:
            raise ValueError(f"{where}: `when` must be a non-empty array of clauses")
        when = tuple(_clause(c, lists, known_inputs, where) for c in clauses)
        rules.append(Rule(rule_id, action, str(raw.get("description", rule_id)), when))
    return RuleSet(tuple(rules))


def _clause(raw: Any, lists: dict[str, list[Any]], known: set[str] | None, where: str) -> Clause:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a clause must be a table like {{ input = ..., op = ..., value = ... }}")
    name, op = raw.get("input"), raw.get("op")
    if not isinstance(name, str) or (known is not None and name not in known):
        raise ValueError(f"{where}: unknown input {name!r}; known inputs: {', '.join(sorted(known or ()))}")
    if op in _MEMBERSHIP:
        members: Any = raw.get("value")
        if "list" in raw:
            if raw["list"] not in lists:
                raise ValueError(f"{where}: no list named {raw['list']!r} under [lists]")
            members = lists[raw["list"]]
        if not isinstance(members, list):
            raise ValueError(f'{where}: `{op}` needs `value = [...]` or `list = "name"`')
        return Clause(name, op, frozenset(members))
    if op not in _COMPARE:
        raise ValueError(f"{where}: unknown op {op!r}; use one of {[*_COMPARE, *_MEMBERSHIP]}")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}: clause on {name!r} needs a number or string `value`")
    if isinstance(value, str) != (name in _TEXT_INPUTS):
        raise ValueError(f"{where}: {name!r} is {'text' if name in _TEXT_INPUTS else 'a number'}")
    return Clause(name, op, float(value) if not isinstance(value, str) else value)


def load_rules(path: Path, known_inputs: set[str] | None = None) -> RuleSet:
    return parse_rules(path.read_text(encoding="utf-8"), known_inputs)

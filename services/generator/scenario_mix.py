"""Which fraud families a generated world holds, and how many of each: `generate-file --scenario-mix`.

A mix is `NAME=WEIGHT[,NAME=WEIGHT...]`. Each listed family gets `WEIGHT x --per-scenario` instances
per (up to) 30 days; a family left out of the mix is not generated. Without a mix every family has
weight 1. A fractional count is rounded up or down at random (by the world's seeded rng), so a
weight of 0.5 with 10 per scenario gives exactly 5, and 0.25 with 10 gives 2 or 3.

    --scenario-mix stolen_card=1,terminal_compromise=3,low_and_slow=2

Every family runs through one signature, `FamilyRun`, and returns an `Outcome`: its swipes, plus
the merchant windows in which every swipe is fraud (terminal compromises only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from services.generator.field_scenarios import (
    ESCALATION,
    LOW_AND_SLOW,
    TERMINAL,
    EscalationParams,
    LowAndSlowParams,
    MerchantCompromise,
    TerminalCompromiseParams,
    escalating_card,
    low_and_slow,
    terminal_compromise,
)
from services.generator.population import Population
from services.generator.scenarios import SCENARIOS, LabeledSwipe

MIX_EXAMPLE = "--scenario-mix stolen_card=1,terminal_compromise=3"


@dataclass(frozen=True)
class Outcome:
    swipes: list[LabeledSwipe]
    windows: list[MerchantCompromise] = field(default_factory=list)


# (population, anchor, rng, history_days (None: the family's default), room left in the world or None)
FamilyRun = Callable[[Population, datetime, np.random.Generator, float | None, timedelta | None], Outcome]


def _classic(name: str) -> FamilyRun:
    run = SCENARIOS[name]

    def family(
        pop: Population, at: datetime, rng: np.random.Generator, hd: float | None, room: timedelta | None
    ) -> Outcome:
        return Outcome(run(pop, at, rng, hd, room))

    return family


def _terminal(
    pop: Population, at: datetime, rng: np.random.Generator, hd: float | None, room: timedelta | None
) -> Outcome:
    params = TerminalCompromiseParams()
    card = int(rng.integers(pop.cards))  # a merchant some card uses, so it has regular customers
    online = rng.random() < params.online_share
    usual = pop.usual_ecom[pop.usual_ecom_start[card] : pop.usual_ecom_start[card + 1]]
    merchant = int(usual[0] if online and len(usual) else pop.usual_merchants(card)[0])
    out = terminal_compromise(pop, merchant, at, rng, params, room)
    return Outcome(out.swipes, [out.window])


def _escalation(
    pop: Population, at: datetime, rng: np.random.Generator, hd: float | None, room: timedelta | None
) -> Outcome:
    p = EscalationParams() if hd is None else replace(EscalationParams(), history_days=hd)
    return Outcome(escalating_card(pop, int(rng.integers(pop.cards)), at, rng, p))


def _low_and_slow(
    pop: Population, at: datetime, rng: np.random.Generator, hd: float | None, room: timedelta | None
) -> Outcome:
    p = LowAndSlowParams() if hd is None else replace(LowAndSlowParams(), history_days=hd)
    return Outcome(low_and_slow(pop, int(rng.integers(pop.cards)), at, rng, p))


FAMILIES: dict[str, FamilyRun] = {
    **{name: _classic(name) for name in SCENARIOS},
    TERMINAL: _terminal,
    ESCALATION: _escalation,
    LOW_AND_SLOW: _low_and_slow,
}
DEFAULT_MIX: dict[str, float] = dict.fromkeys(FAMILIES, 1.0)


def parse_mix(text: str) -> dict[str, float]:
    """`NAME=WEIGHT,...` as {name: weight}; ValueError names the entry at fault and what to write."""
    mix: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, raw = (s.strip() for s in part.partition("="))
        if not sep or not name or not raw:
            raise ValueError(f"scenario mix entry {part!r} is not NAME=WEIGHT; e.g. {MIX_EXAMPLE}")
        if name not in FAMILIES:
            raise ValueError(f"scenario {name!r} is unknown; choose from {', '.join(FAMILIES)}")
        if name in mix:
            raise ValueError(f"scenario {name!r} is given twice in the mix")
        try:
            weight = float(raw)
        except ValueError:
            raise ValueError(f"weight {raw!r} of {name} is not a number; e.g. {MIX_EXAMPLE}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight {raw!r} of {name} must be a number >= 0")
        mix[name] = weight
    if not any(mix.values()):
        raise ValueError(f"the scenario mix has no scenario with a weight above 0; e.g. {MIX_EXAMPLE}")
    return mix


def format_mix(mix: Mapping[str, float]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in mix.items())


def instance_counts(mix: Mapping[str, float], per_scenario: int, rng: np.random.Generator) -> dict[str, int]:
    """Instances of each family: `per_scenario * weight`, a fractional part kept with that probability."""
    counts = {}
    for name, weight in mix.items():
        expected = per_scenario * weight
        whole = math.floor(expected)
        counts[name] = whole + int(rng.random() < expected - whole)
    return counts

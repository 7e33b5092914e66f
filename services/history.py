"""A labeled history of generated traffic: background swipes plus scenario instances, in time order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from services.field_scenarios import MerchantCompromise, relabel_compromised
from services.population import Population
from services.scenario_mix import FAMILIES, instance_counts
from services.scenarios import SCENARIOS, LabeledSwipe
from services.traffic import background


def labeled_history(
    pop: Population,
    start: datetime,
    days: float,
    rng: np.random.Generator,
    *,
    per_scenario: int = 20,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    history_days: float = 3.0,
    mix: Mapping[str, float] | None = None,
) -> list[LabeledSwipe]:
    """`days` of normal traffic from every card, with `per_scenario` instances of each scenario.

    Without `mix`, the `scenarios` (the four classic ones by default) get `per_scenario` instances
    each; with it, every family of `services.scenario_mix.FAMILIES` it names gets its weight times
    `per_scenario`. Scenario instances start at random times after their own `history_days` of
    warm-up, so the victims' features have a normal past. Every swipe a terminal compromise covers
    (background or not) is fraud. Swipe ids are unique across the whole history.
    """
    end = start + timedelta(days=days)
    out = [LabeledSwipe(s, False, "legit") for s in background(pop, start, rng, end=end, id_prefix="bg-")]
    span_s = (days - history_days) * 86400
    if span_s <= 0:
        raise ValueError(f"days ({days}) must exceed the scenarios' history_days ({history_days})")
    counts = (
        dict.fromkeys(scenarios, per_scenario) if mix is None else instance_counts(mix, per_scenario, rng)
    )
    windows: list[MerchantCompromise] = []
    for name, count in counts.items():
        run = FAMILIES[name]
        for i in range(count):
            at = start + timedelta(days=history_days, seconds=float(rng.uniform(0, span_s)))
            outcome = run(pop, at, rng, history_days, end - at)
            windows.extend(outcome.windows)
            for ls in outcome.swipes:
                if ls.swipe.event_time < end:
                    swipe = ls.swipe.model_copy(update={"swipe_id": f"{name[:3]}{i}-{ls.swipe.swipe_id}"})
                    out.append(LabeledSwipe(swipe, ls.is_fraud, ls.scenario))
    if windows:
        out = relabel_compromised(out, windows)
    out.sort(key=lambda ls: (ls.swipe.event_time, ls.swipe.swipe_id))
    return out

"""A labeled history of generated traffic: background swipes plus scenario instances, in time order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from services.population import Population
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
) -> list[LabeledSwipe]:
    """`days` of normal traffic from every card, with `per_scenario` instances of each scenario.

    Scenario instances start at random times after their own `history_days` of warm-up, so the
    victims' features have a normal past. Swipe ids are unique across the whole history.
    """
    end = start + timedelta(days=days)
    out = [LabeledSwipe(s, False, "legit") for s in background(pop, start, rng, end=end, id_prefix="bg-")]
    span_s = (days - history_days) * 86400
    if span_s <= 0:
        raise ValueError(f"days ({days}) must exceed the scenarios' history_days ({history_days})")
    for name in scenarios:
        run = SCENARIOS[name]
        for i in range(per_scenario):
            at = start + timedelta(days=history_days, seconds=float(rng.uniform(0, span_s)))
            for ls in run(pop, at, rng, history_days, end - at):
                if ls.swipe.event_time < end:
                    swipe = ls.swipe.model_copy(update={"swipe_id": f"{name[:3]}{i}-{ls.swipe.swipe_id}"})
                    out.append(LabeledSwipe(swipe, ls.is_fraud, ls.scenario))
    out.sort(key=lambda ls: (ls.swipe.event_time, ls.swipe.swipe_id))
    return out

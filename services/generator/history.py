"""A labeled history of generated traffic: background swipes plus scenario instances, in time order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from services.generator.field_scenarios import MerchantCompromise, relabel_compromised
from services.generator.population import Population
from services.generator.scenario_mix import FAMILIES, instance_counts
from services.generator.scenarios import SCENARIOS, LabeledSwipe
from services.generator.traffic import background


@dataclass
class Carry:
    """What one chunk of history leaves to the next: compromises still open, scenario swipes after it."""

    windows: list[MerchantCompromise] = field(default_factory=list)
    swipes: list[LabeledSwipe] = field(default_factory=list)


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
    each; with it, every family of `services.generator.scenario_mix.FAMILIES` it names gets its weight times
    `per_scenario`. Scenario instances start at random times after their own `history_days` of
    warm-up, so the victims' features have a normal past. Every swipe a terminal compromise covers
    (background or not) is fraud. Swipe ids are unique across the whole history. Nothing goes on
    past the end: `labeled_chunk` is the same for one chunk of a longer world.
    """
    swipes, _ = labeled_chunk(
        pop,
        start,
        days,
        rng,
        per_scenario=per_scenario,
        scenarios=scenarios,
        history_days=history_days,
        mix=mix,
    )
    return swipes


def labeled_chunk(
    pop: Population,
    start: datetime,
    days: float,
    rng: np.random.Generator,
    *,
    per_scenario: int = 20,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    history_days: float = 3.0,
    mix: Mapping[str, float] | None = None,
    carry: Carry | None = None,
    world_end: datetime | None = None,
    id_prefix: str = "",
) -> tuple[list[LabeledSwipe], Carry]:
    """`labeled_history` for `days` from `start` inside a world that ends at `world_end` (default:
    with the chunk), and what it leaves to the next chunk.

    A scenario may run until `world_end`: a terminal compromise of three weeks that starts late in
    one chunk goes on in the next one (`carry.windows` relabel that chunk's background there) and
    so do the scenario's own later swipes (`carry.swipes`). Without that, every compromise of a
    chunk would end together at its boundary, and the merchant's fraud share of a week ago would
    point at merchants that are clean again. `id_prefix` starts every swipe id of the chunk.
    """
    carry = carry or Carry()
    end = start + timedelta(days=days)
    world_end = world_end or end
    out = [
        LabeledSwipe(s, False, "legit")
        for s in background(pop, start, rng, end=end, id_prefix=f"{id_prefix}bg-")
    ]
    span_s = (days - history_days) * 86400
    if span_s <= 0:
        raise ValueError(f"days ({days}) must exceed the scenarios' history_days ({history_days})")
    counts = (
        dict.fromkeys(scenarios, per_scenario) if mix is None else instance_counts(mix, per_scenario, rng)
    )
    windows: list[MerchantCompromise] = list(carry.windows)
    later: list[LabeledSwipe] = []
    for ls in carry.swipes:
        (out if ls.swipe.event_time < end else later).append(ls)
    for name, count in counts.items():
        run = FAMILIES[name]
        for i in range(count):
            at = start + timedelta(days=history_days, seconds=float(rng.uniform(0, span_s)))
            outcome = run(pop, at, rng, history_days, world_end - at)
            windows.extend(outcome.windows)
            for ls in outcome.swipes:
                if ls.swipe.event_time < world_end:
                    swipe_id = f"{id_prefix}{name[:3]}{i}-{ls.swipe.swipe_id}"
                    swipe = ls.swipe.model_copy(update={"swipe_id": swipe_id})
                    (out if swipe.event_time < end else later).append(
                        LabeledSwipe(swipe, ls.is_fraud, ls.scenario)
                    )
    if windows:
        out = relabel_compromised(out, windows)
    out.sort(key=lambda ls: (ls.swipe.event_time, ls.swipe.swipe_id))
    return out, Carry([w for w in windows if w.end > end], later)

"""The stolen-card story's one draw: a seed and a theft time are one story; the victim is the seed's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.generator.scenarios import StolenCardParams
from services.replay.story import draw_story

KEY = b"test-key"
MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
EVENING = datetime(2026, 11, 28, 21, 30, tzinfo=UTC)


def test_a_seed_is_one_draw_and_the_same_victim_at_any_time() -> None:
    a, again, later = (
        draw_story(3, KEY, 60, MORNING),
        draw_story(3, KEY, 60, MORNING),
        draw_story(3, KEY, 60, EVENING),
    )
    assert a.story == again.story and a.traffic == again.traffic
    assert a.victim == later.victim
    assert draw_story(4, KEY, 60, MORNING).story != a.story


def test_the_theft_falls_in_its_window_and_the_others_are_every_other_card() -> None:
    params = StolenCardParams()
    drawn = draw_story(5, KEY, 40, MORNING, params)
    end = MORNING + timedelta(minutes=params.burst_minutes)
    assert drawn.fraud and all(MORNING <= ls.swipe.event_time < end for ls in drawn.fraud)
    assert sorted(drawn.others.tolist()) == [c for c in range(40) if c != drawn.victim]
    victim_token = drawn.pop.token(drawn.victim)
    assert drawn.traffic and all(s.card_token != victim_token for s in drawn.traffic)
    assert max(s.event_time for s in drawn.traffic) < end

"""The supervisor's decisions as tables: backoff delays, one look at a component, health words, uptime."""

from __future__ import annotations

import pytest

from services.stack.restarts import Backoff, Watch, format_uptime, health, observe

POLICY = Backoff(first_s=1.0, factor=2.0, max_s=10.0, healthy_after_s=60.0)


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (12, 10.0)],
)
def test_delay_doubles_up_to_the_cap(crashes: int, delay: float) -> None:
    assert POLICY.delay(crashes) == delay


# One component looked at once a second. `x` it is dead, `o` it runs; R: restarted at that look.
#
#   t:     0   1   2   3   4   5   6   7   ...  70
#   seen:  x   x   o   x   x   x   o   o        o (up 61 s)
#   act:       R       .   .   R                forgets the streak
TIMELINE = [
    # now, alive, up_for_s, restart?, crashes after, restart due at
    (0.0, False, None, False, 1, 1.0),  # first crash: the restart waits first_s
    (1.0, False, None, True, 1, None),  # due: restart
    (2.0, True, 0.5, False, 1, None),  # back; the streak is remembered
    (3.0, False, None, False, 2, 5.0),  # crashed again soon: twice as long
    (4.0, False, None, False, 2, 5.0),  # still waiting
    (5.0, False, None, True, 2, None),  # due: restart
    (6.0, True, 0.5, False, 2, None),
    (70.0, True, 61.0, False, 0, None),  # up past healthy_after_s: streak forgotten
    (71.0, False, None, False, 1, 72.0),  # a crash now waits first_s again
]


def test_a_timeline_of_looks() -> None:
    watch = Watch()
    for now, alive, up_for, restart, crashes, due in TIMELINE:
        watch, restart_now = observe(POLICY, watch, now, alive, up_for)
        assert (restart_now, watch.crashes, watch.restart_at) == (restart, crashes, due), f"at t={now}"


def test_no_backoff_restarts_at_the_first_look() -> None:
    watch, restart = observe(Backoff(first_s=0.0), Watch(), 5.0, alive=False, up_for_s=None)
    assert restart and watch == Watch(1, None)


@pytest.mark.parametrize(
    ("alive", "answers", "external", "word"),
    [
        (True, True, False, "ready"),
        (True, False, False, "starting"),
        (False, False, False, "dead"),
        (False, True, False, "dead"),  # something else answers on its port: not our process
        (False, True, True, "external"),
        (False, False, True, "unreachable"),
    ],
)
def test_health_words(alive: bool, answers: bool, external: bool, word: str) -> None:
    assert health(alive, answers, external=external) == word


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (-1.0, "-"),
        (0.4, "0s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (3600, "1h00m"),
        (7620, "2h07m"),
        (86400 + 3 * 3600 + 59, "1d03h"),
    ],
)
def test_format_uptime(seconds: float | None, text: str) -> None:
    assert format_uptime(seconds) == text

"""The soak's pure helpers: resident memory of a process tree, ratios."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.machine import status_bytes
from bench.soak import ratio, second_half_start, tree_rss_bytes


def _proc(root: Path, pid: int, ppid: int, rss_kb: int | None) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} (java (x)) S {ppid} 1 1 0")
    (d / "status").write_text("Name:\tx\n" + (f"VmRSS:\t{rss_kb} kB\n" if rss_kb is not None else ""))


def test_tree_rss_sums_the_process_and_its_descendants_only(tmp_path: Path) -> None:
    _proc(tmp_path, 10, 1, 100)  # python -m streaming.job
    _proc(tmp_path, 11, 10, 1000)  # its JVM
    _proc(tmp_path, 12, 11, 10)  # a JVM child
    _proc(tmp_path, 20, 1, 5000)  # unrelated
    _proc(tmp_path, 13, 10, None)  # a zombie: no VmRSS
    (tmp_path / "self").mkdir()
    assert tree_rss_bytes(10, tmp_path) == (100 + 1000 + 10) * 1024
    assert tree_rss_bytes(99, tmp_path) == 0


def test_status_vmrss_and_ratio() -> None:
    assert status_bytes("Name:\tpython\nVmRSS:\t  2048 kB\n", "VmRSS") == 2048 * 1024
    assert status_bytes("Name:\tkthreadd\n", "VmRSS") == 0
    assert ratio(100.0, 150.0) == 1.5
    assert math.isnan(ratio(0.0, 1.0))


@pytest.mark.parametrize(
    ("times", "start"),
    [
        ([0.0, 15.0, 30.0, 45.0, 60.0], 30.0),  # exactly half way
        ([0.0, 20.0, 40.0, 60.0, 70.0], 40.0),  # the first sample past 35 s
        ([0.0, 10.0], 10.0),  # two samples: the second half is the last one
    ],
)
def test_the_second_half_starts_at_the_first_sample_past_half_the_run(
    times: list[float], start: float
) -> None:
    assert second_half_start([{"t_s": t} for t in times])["t_s"] == start


def test_the_soak_measures_the_state_of_the_tile_engine_the_job_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bench.soak import _tiles_state

    for engine, folder in (("jvm", "card_tiles_jvm"), ("sql", "card_tiles")):
        monkeypatch.setenv("FRAUDSTREAM_TILE_ENGINE", engine)
        assert _tiles_state(tmp_path) == tmp_path / "checkpoints" / folder / "state", engine

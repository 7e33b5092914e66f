"""The job's Spark settings: the FAIR pools put the query the scorer waits on first."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from streaming import job
from streaming.settings import StreamSettings


def test_the_card_tiles_pool_goes_first_and_every_other_query_shares_the_rest() -> None:
    conf = job.job_spark_conf(StreamSettings(_env_file=None))  # type: ignore[call-arg]
    assert conf["spark.scheduler.mode"] == "FAIR"
    pools = {
        pool.get("name"): (int(pool.findtext("weight", "1")), int(pool.findtext("minShare", "0")))
        for pool in ET.parse(Path(conf["spark.scheduler.allocation.file"])).getroot().iter("pool")
    }
    # Each query runs in the pool named after it (streaming.sinks.writer); only card_tiles is listed.
    assert set(pools) == {job.QUERY_TILES}
    weight, min_share = pools[job.QUERY_TILES]
    assert weight > 1 and min_share >= 2  # both local[2] cores whenever its tasks wait


def test_a_watermark_longer_than_the_tiles_final_delay_is_refused_with_the_setting_to_change() -> None:
    import pytest
    from pydantic import ValidationError

    StreamSettings(_env_file=None, watermark_s=3600)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="FRAUDSTREAM_WATERMARK_S to at most 3600"):
        StreamSettings(_env_file=None, watermark_s=3601)  # type: ignore[call-arg]


def test_each_tile_engine_keeps_its_own_checkpoint_and_sql_keeps_the_one_it_always_had() -> None:
    import pytest

    cases = {"sql": "card_tiles", "jvm": "card_tiles_jvm"}
    for engine, folder in cases.items():
        settings = StreamSettings(_env_file=None, checkpoint_root="/ckpt", tile_engine=engine)  # type: ignore[call-arg, arg-type]
        assert job.tiles_checkpoint(settings) == f"/ckpt/{folder}", engine
    with pytest.raises(ValueError, match="tile_engine"):
        StreamSettings(_env_file=None, tile_engine="python")  # type: ignore[call-arg, arg-type]


def test_each_query_of_a_part_has_a_checkpoint_of_its_own_under_the_root() -> None:
    def part_settings(part: str) -> StreamSettings:
        return StreamSettings(_env_file=None, checkpoint_root="s3a://b/ckpt", queries=part)  # type: ignore[call-arg, arg-type]

    located = {part: job.query_checkpoints(part_settings(part)) for part in job.QUERY_PARTS}
    assert located["all"] == located["hot"] | located["history"]
    assert not set(located["hot"].values()) & set(located["history"].values())
    assert located["hot"] == {job.QUERY_TILES: "s3a://b/ckpt/card_tiles_jvm"}
    assert located["history"]["sessions"] == "s3a://b/ckpt/sessions"
    assert len(set(located["all"].values())) == len(job.QUERY_PARTS["all"])


def test_the_parts_split_the_queries_without_overlap_or_loss() -> None:
    hot, history = set(job.QUERY_PARTS["hot"]), set(job.QUERY_PARTS["history"])
    assert hot == {job.QUERY_TILES}
    assert not hot & history
    assert hot | history == set(job.QUERY_PARTS["all"])
    assert set(job.QUERY_PARTS) == set(StreamSettings.model_fields["queries"].annotation.__args__)  # type: ignore[union-attr]


def test_an_unknown_part_is_refused_before_any_query_starts() -> None:
    import pytest

    with pytest.raises(ValueError, match="expected one of all, hot, history"):
        job.start(None, StreamSettings(_env_file=None), queries="tiles")  # type: ignore[arg-type, call-arg]

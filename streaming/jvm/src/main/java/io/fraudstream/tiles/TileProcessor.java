package io.fraudstream.tiles;

import java.util.Collections;
import java.util.Iterator;
import java.util.TreeMap;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.streaming.ExpiredTimerInfo;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import scala.jdk.javaapi.CollectionConverters;

/**
 * A card's open tiles, folded swipe by swipe on the JVM: the streaming twin of Spark's tile aggregation.
 *
 * <p>Each micro-batch, a card's swipes land in one tile of every grain; the tiles they changed are
 * emitted whole (update mode), as the native aggregation emits them. A tile is final, and leaves
 * the state, once the watermark passes its end; a swipe whose tile is already final is skipped for
 * that tile only, while its coarser tiles, still open, take it. An event-time timer at the card's
 * latest tile end clears the state of a card that stops swiping.
 */
public final class TileProcessor extends StatefulProcessor<String, Row, Row> {
  private static final long serialVersionUID = 1L;
  private final TileSpec spec;
  private transient ValueState<byte[]> state;

  TileProcessor(TileSpec spec) {
    this.spec = spec;
  }

  @Override
  public void init(OutputMode outputMode, TimeMode timeMode) {
    state = getHandle().getValueState("tiles", Encoders.BINARY(), TTLConfig.NONE());
  }

  @Override
  public scala.collection.Iterator<Row> handleInputRows(
      String card, scala.collection.Iterator<Row> swipes, TimerValues timers) {
    long watermarkMs = timers.getCurrentWatermarkInMs();
    TreeMap<Long, Tile> tiles = Tile.decode(state.exists() ? state.get() : null, spec.grainsS);
    int[] grains = spec.grainsS;
    long timerMs = latestEnd(tiles);
    long latestEndMs = timerMs;
    long lateRows = 0;
    while (swipes.hasNext()) {
      Row swipe = swipes.next();
      long seconds = Math.floorDiv(swipe.getLong(spec.timeIndex), 1_000_000L);
      for (int g = 0; g < grains.length; g++) {
        long start = seconds - Math.floorMod(seconds, grains[g]);
        long endMs = (start + grains[g]) * 1000L;
        if (endMs <= watermarkMs) {
          lateRows++;
          continue;
        }
        Tile tile = tiles.get(Tile.key(g, start));
        if (tile == null) {
          tile = new Tile(grains[g], start, spec.empty());
          tiles.put(Tile.key(g, start), tile);
        }
        spec.add(tile.values, swipe);
        tile.changed = true;
        latestEndMs = Math.max(latestEndMs, endMs);
      }
    }
    Iterator<Row> out = Tile.rows(card, tiles, lateRows, spec).iterator();
    save(tiles, watermarkMs);
    if (latestEndMs > timerMs) {
      // one timer per card and coarsest tile: a card's state stays until its last tile is final
      getHandle().registerTimer(latestEndMs);
    }
    return CollectionConverters.asScala(out);
  }

  @Override
  public scala.collection.Iterator<Row> handleExpiredTimer(
      String card, TimerValues timers, ExpiredTimerInfo expired) {
    if (state.exists()) {
      save(Tile.decode(state.get(), spec.grainsS), timers.getCurrentWatermarkInMs());
    }
    return CollectionConverters.asScala(Collections.<Row>emptyIterator());
  }

  private static long latestEnd(TreeMap<Long, Tile> tiles) {
    long end = 0;
    for (Tile t : tiles.values()) {
      end = Math.max(end, t.endMs());
    }
    return end;
  }

  /** Keep the tiles still open at this watermark; a card with none left holds no state. */
  private void save(TreeMap<Long, Tile> tiles, long watermarkMs) {
    tiles.values().removeIf(t -> t.endMs() <= watermarkMs);
    if (tiles.isEmpty()) {
      state.clear();
    } else {
      state.update(Tile.encode(tiles.values()));
    }
  }
}

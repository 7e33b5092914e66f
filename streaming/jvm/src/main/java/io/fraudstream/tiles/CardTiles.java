package io.fraudstream.tiles;

import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.TimeMode;

/**
 * The entry point PySpark calls over py4j: swipes' measure inputs in, the tiles each batch changed out.
 *
 * <pre>
 *   jvm.io.fraudstream.tiles.CardTiles.stream(inputs._jdf, "card_token", "event_us",
 *                                             "60,3600,86400", "count:count:one,...")
 * </pre>
 *
 * The input must carry a watermark (withWatermark on its event time): the processor runs in event
 * time, and the watermark decides when a tile is final.
 */
public final class CardTiles {
  private CardTiles() {}

  public static Dataset<Row> stream(
      Dataset<Row> inputs, String cardColumn, String timeColumn, String grains, String measures) {
    TileSpec spec = TileSpec.of(inputs.schema(), cardColumn, timeColumn, grains, measures);
    return inputs
        .groupByKey(new CardOf(spec.cardIndex), Encoders.STRING())
        .transformWithState(
            new TileProcessor(spec), TimeMode.EventTime(), OutputMode.Update(), Encoders.row(spec.output));
  }

  /** The grouping key: the card token, by its column index. */
  static final class CardOf implements MapFunction<Row, String> {
    private static final long serialVersionUID = 1L;
    private final int index;

    CardOf(int index) {
      this.index = index;
    }

    @Override
    public String call(Row swipe) {
      return swipe.getString(index);
    }
  }
}

package io.fraudstream.tiles;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The tile measures as Python's {@code streaming.tiles.MEASURES} defines them, bound to an input schema.
 *
 * <p>A measure is {@code name:kind:source}; the kinds are the ones {@code Tile.add} and the Spark
 * aggregates of {@code streaming.tile_spark} implement: count, sum, max, min, last (the greatest
 * struct, field by field) and set (distinct values). Nothing here knows which measures exist.
 */
final class TileSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  enum Kind { COUNT, SUM, MAX, MIN, LAST, SET }

  /**
   * The output's last column: swipes skipped for a tile already final, on the card's first row of
   * the batch (PySpark sums it with observe() into the query's progress). A card whose every swipe
   * was late has no tile to emit, so it emits a marker row of grain 0, which PySpark filters out.
   */
  static final String LATE_ROWS = "late_rows";

  final int[] grainsS;
  final int cardIndex;
  final int timeIndex;
  final String[] names;
  final Kind[] kinds;
  final int[] sources;
  final boolean[] integral;
  final StructType output;

  private TileSpec(StructType input, String card, String time, int[] grainsS, List<String[]> measures) {
    this.grainsS = grainsS;
    this.cardIndex = input.fieldIndex(card);
    this.timeIndex = input.fieldIndex(time);
    int n = measures.size();
    names = new String[n];
    kinds = new Kind[n];
    sources = new int[n];
    integral = new boolean[n];
    List<StructField> fields = new ArrayList<>();
    fields.add(DataTypes.createStructField("card_token", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("grain_s", DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField("start_s", DataTypes.LongType, false));
    for (int i = 0; i < n; i++) {
      String[] m = measures.get(i);
      names[i] = m[0];
      kinds[i] = Kind.valueOf(m[1].toUpperCase());
      sources[i] = input.fieldIndex(m[2]);
      DataType type = input.fields()[sources[i]].dataType();
      integral[i] = type instanceof IntegralType;
      fields.add(DataTypes.createStructField(names[i], outputType(kinds[i], type), true));
    }
    fields.add(DataTypes.createStructField(LATE_ROWS, DataTypes.LongType, false));
    output = DataTypes.createStructType(fields);
  }

  /** Parse {@code "60,3600"} and {@code "count:count:one,amount_sum:sum:amount,..."} against the input schema. */
  static TileSpec of(StructType input, String card, String time, String grains, String measures) {
    String[] g = grains.split(",");
    int[] grainsS = new int[g.length];
    for (int i = 0; i < g.length; i++) {
      grainsS[i] = Integer.parseInt(g[i].trim());
    }
    List<String[]> parsed = new ArrayList<>();
    for (String m : measures.split(",")) {
      String[] parts = m.trim().split(":");
      if (parts.length != 3) {
        throw new IllegalArgumentException("a measure is name:kind:source, got '" + m + "'");
      }
      parsed.add(parts);
    }
    return new TileSpec(input, card, time, grainsS, parsed);
  }

  private static DataType outputType(Kind kind, DataType source) {
    switch (kind) {
      case COUNT:
        return DataTypes.LongType;
      case SUM:
        return source instanceof IntegralType ? DataTypes.LongType : DataTypes.DoubleType;
      case SET:
        return new ArrayType(source, false);
      default:
        return source;
    }
  }

  /** A new tile's values: what each aggregate holds before its first swipe (Spark's empty aggregate). */
  Object[] empty() {
    Object[] values = new Object[kinds.length];
    for (int i = 0; i < kinds.length; i++) {
      if (kinds[i] == Kind.COUNT) {
        values[i] = 0L;
      } else if (kinds[i] == Kind.SET) {
        values[i] = new HashSet<Row>();
      }
    }
    return values;
  }

  /** Fold one swipe's inputs into a tile's values, as Spark's aggregates do (nulls skipped). */
  @SuppressWarnings("unchecked")
  void add(Object[] values, Row swipe) {
    for (int i = 0; i < kinds.length; i++) {
      if (kinds[i] == Kind.COUNT) {
        values[i] = (Long) values[i] + 1L;
        continue;
      }
      Object v = swipe.get(sources[i]);
      if (v == null) {
        continue;
      }
      Object old = values[i];
      switch (kinds[i]) {
        case SUM:
          values[i] = sum(old, (Number) v, integral[i]);
          break;
        case MAX:
        case LAST:
          values[i] = old == null || compare(v, old) > 0 ? v : old;
          break;
        case MIN:
          values[i] = old == null || compare(v, old) < 0 ? v : old;
          break;
        default:
          ((Set<Row>) old).add((Row) v);
      }
    }
  }

  private static Object sum(Object old, Number v, boolean integral) {
    if (integral) {
      return (old == null ? 0L : (Long) old) + v.longValue();
    }
    return (old == null ? 0.0 : (Double) old) + v.doubleValue();
  }

  /** Spark's ordering: numbers and strings as usual, structs field by field, null before any value. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static int compare(Object a, Object b) {
    if (a == null || b == null) {
      return a == null ? (b == null ? 0 : -1) : 1;
    }
    if (a instanceof Row) {
      Row x = (Row) a;
      Row y = (Row) b;
      for (int i = 0; i < x.length(); i++) {
        int c = compare(x.get(i), y.get(i));
        if (c != 0) {
          return c;
        }
      }
      return 0;
    }
    if (a instanceof Number && !(a instanceof Double) && !(a instanceof Float)) {
      return Long.compare(((Number) a).longValue(), ((Number) b).longValue());
    }
    if (a instanceof Double || a instanceof Float) {
      return Double.compare(((Number) a).doubleValue(), ((Number) b).doubleValue());
    }
    return ((Comparable) a).compareTo(b);
  }
}

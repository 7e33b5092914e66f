package io.fraudstream.tiles;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import scala.jdk.javaapi.CollectionConverters;

/**
 * One open tile of one card: its grain, its start, and the measures' partial aggregates.
 *
 * <p>A card's open tiles are kept as one value in the state store, written by {@link #encode} in a
 * small tagged binary form (null, long, int, double, string, struct, set), so the state needs no
 * Spark encoder for the measures and reads back without reflection.
 */
final class Tile {
  final int grainS;
  final long startS;
  final Object[] values;
  boolean changed;

  Tile(int grainS, long startS, Object[] values) {
    this.grainS = grainS;
    this.startS = startS;
    this.values = values;
  }

  long endMs() {
    return (startS + grainS) * 1000L;
  }

  /** The key a card's tiles are held by: grain and start in one long (starts are whole seconds). */
  static long key(int grainIndex, long startS) {
    return startS * 8 + grainIndex;
  }

  static byte[] encode(Collection<Tile> tiles) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(tiles.size());
      for (Tile t : tiles) {
        out.writeInt(t.grainS);
        out.writeLong(t.startS);
        out.writeInt(t.values.length);
        for (Object v : t.values) {
          write(out, v);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static TreeMap<Long, Tile> decode(byte[] state, int[] grainsS) {
    TreeMap<Long, Tile> tiles = new TreeMap<>();
    if (state == null) {
      return tiles;
    }
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(state))) {
      int n = in.readInt();
      for (int i = 0; i < n; i++) {
        int grain = in.readInt();
        long start = in.readLong();
        Object[] values = new Object[in.readInt()];
        for (int j = 0; j < values.length; j++) {
          values[j] = read(in);
        }
        tiles.put(key(indexOf(grainsS, grain), start), new Tile(grain, start, values));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return tiles;
  }

  private static int indexOf(int[] grainsS, int grain) {
    for (int i = 0; i < grainsS.length; i++) {
      if (grainsS[i] == grain) {
        return i;
      }
    }
    throw new IllegalStateException(
        "the state holds a tile of grain " + grain + " s, which the job no longer computes; "
            + "start the tiles query from a new checkpoint");
  }

  @SuppressWarnings("unchecked")
  private static void write(DataOutputStream out, Object v) throws IOException {
    if (v == null) {
      out.writeByte(0);
    } else if (v instanceof Long) {
      out.writeByte(1);
      out.writeLong((Long) v);
    } else if (v instanceof Integer) {
      out.writeByte(2);
      out.writeInt((Integer) v);
    } else if (v instanceof Double) {
      out.writeByte(3);
      out.writeDouble((Double) v);
    } else if (v instanceof String) {
      out.writeByte(4);
      out.writeUTF((String) v);
    } else if (v instanceof Row) {
      Row row = (Row) v;
      out.writeByte(5);
      out.writeInt(row.length());
      for (int i = 0; i < row.length(); i++) {
        write(out, row.get(i));
      }
    } else if (v instanceof Set) {
      Set<Row> set = (Set<Row>) v;
      out.writeByte(6);
      out.writeInt(set.size());
      for (Row row : set) {
        write(out, row);
      }
    } else {
      throw new IllegalArgumentException("a tile measure cannot hold a " + v.getClass().getName());
    }
  }

  private static Object read(DataInputStream in) throws IOException {
    byte tag = in.readByte();
    switch (tag) {
      case 0:
        return null;
      case 1:
        return in.readLong();
      case 2:
        return in.readInt();
      case 3:
        return in.readDouble();
      case 4:
        return in.readUTF();
      case 5:
        Object[] fields = new Object[in.readInt()];
        for (int i = 0; i < fields.length; i++) {
          fields[i] = read(in);
        }
        return RowFactory.create(fields);
      case 6:
        int n = in.readInt();
        Set<Row> set = new HashSet<>(Math.max(4, n * 2));
        for (int i = 0; i < n; i++) {
          set.add((Row) read(in));
        }
        return set;
      default:
        throw new IllegalStateException("unknown tag " + tag + " in a card's tile state");
    }
  }

  /**
   * The tile as an output row: card, grain, start, every measure, late rows. A set goes out as an
   * indexed Scala Seq (a wrapped ArrayList): the encoder reads it by index, which on the List that
   * {@code toSeq()} makes walks the list each time. No end timestamp: PySpark derives it natively.
   */
  @SuppressWarnings("unchecked")
  Row toRow(String card, long lateRows) {
    Object[] row = new Object[4 + values.length];
    row[3 + values.length] = lateRows;
    row[0] = card;
    row[1] = grainS;
    row[2] = startS;
    for (int i = 0; i < values.length; i++) {
      Object v = values[i];
      row[3 + i] = v instanceof Set ? CollectionConverters.asScala(new ArrayList<>((Set<Row>) v)) : v;
    }
    return RowFactory.create(row);
  }

  /** The tiles a batch changed, the card's late rows on the first; a marker row if only late rows. */
  static List<Row> rows(String card, Map<Long, Tile> tiles, long lateRows, TileSpec spec) {
    List<Row> out = new ArrayList<>();
    for (Tile t : tiles.values()) {
      if (t.changed) {
        out.add(t.toRow(card, out.isEmpty() ? lateRows : 0L));
      }
    }
    if (out.isEmpty() && lateRows > 0) {
      Object[] values = spec.empty();
      for (int i = 0; i < values.length; i++) {
        if (!(values[i] instanceof Set)) {
          values[i] = null;
        }
      }
      out.add(new Tile(0, 0L, values).toRow(card, lateRows));
    }
    return out;
  }
}

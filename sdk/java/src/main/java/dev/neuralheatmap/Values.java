package dev.neuralheatmap;

import dev.neuralheatmap.v1.MetadataList;
import dev.neuralheatmap.v1.MetadataMap;
import dev.neuralheatmap.v1.MetadataValue;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Metadata ({@code map<string, MetadataValue>}) as plain Java values: integers as {@link Long}
 * (they stay integers on the wire), doubles as {@link Double}, {@link String}, {@link Boolean},
 * {@link List} and {@link Map}; a value with no kind set (JSON null) is {@code null}. Maps are
 * sorted by key, since protobuf maps have no order. Everything returned is unmodifiable.
 */
public final class Values {
  private Values() {}

  /** A metadata map (e.g. {@code anomaly.getMetadataMap()}) as a Java map. */
  public static Map<String, Object> toJava(Map<String, MetadataValue> fields) {
    Map<String, Object> out = new LinkedHashMap<>();
    new TreeMap<>(fields).forEach((k, v) -> out.put(k, toJava(v)));
    return Collections.unmodifiableMap(out);
  }

  /** A nested map (e.g. one of {@code TemporalUpdate.getTrendsList()}) as a Java map. */
  public static Map<String, Object> toJava(MetadataMap map) {
    return toJava(map.getFieldsMap());
  }

  /** A list of values as a Java list. */
  public static List<Object> toJava(MetadataList list) {
    List<Object> out = new ArrayList<>();
    list.getValuesList().forEach(v -> out.add(toJava(v)));
    return Collections.unmodifiableList(out);
  }

  /** One value as a Java value: Long, Double, String, Boolean, List, Map, or null. */
  public static Object toJava(MetadataValue v) {
    return switch (v.getKindCase()) {
      case INT_VALUE -> v.getIntValue();
      case DOUBLE_VALUE -> v.getDoubleValue();
      case STRING_VALUE -> v.getStringValue();
      case BOOL_VALUE -> v.getBoolValue();
      case LIST_VALUE -> toJava(v.getListValue());
      case MAP_VALUE -> toJava(v.getMapValue());
      case KIND_NOT_SET -> null;
    };
  }
}

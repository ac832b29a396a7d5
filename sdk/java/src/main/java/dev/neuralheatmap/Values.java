package dev.neuralheatmap;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Metadata messages as plain Java values: maps, lists, strings, booleans and numbers. */
public final class Values {
  private Values() {}

  /** A Struct as an unmodifiable map in its field order. */
  public static Map<String, Object> toJava(Struct s) {
    Map<String, Object> out = new LinkedHashMap<>();
    s.getFieldsMap().forEach((k, v) -> out.put(k, toJava(v)));
    return Collections.unmodifiableMap(out);
  }

  private static List<Object> toJava(ListValue l) {
    List<Object> out = new ArrayList<>();
    l.getValuesList().forEach(v -> out.add(toJava(v)));
    return Collections.unmodifiableList(out);
  }

  private static Object toJava(Value v) {
    return switch (v.getKindCase()) {
      case NUMBER_VALUE -> v.getNumberValue();
      case STRING_VALUE -> v.getStringValue();
      case BOOL_VALUE -> v.getBoolValue();
      case STRUCT_VALUE -> toJava(v.getStructValue());
      case LIST_VALUE -> toJava(v.getListValue());
      case NULL_VALUE, KIND_NOT_SET -> null;
    };
  }
}

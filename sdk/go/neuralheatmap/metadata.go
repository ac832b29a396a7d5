package neuralheatmap

import nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"

// MetadataValue turns one typed metadata value into the plain Go value the server sent:
// int64 for an integer (never float64, unlike google.protobuf.Struct), float64, string,
// bool, []any, map[string]any, or nil for JSON null (no kind set).
func MetadataValue(v *nhv1.MetadataValue) any {
	switch k := v.GetKind().(type) {
	case *nhv1.MetadataValue_IntValue:
		return k.IntValue
	case *nhv1.MetadataValue_DoubleValue:
		return k.DoubleValue
	case *nhv1.MetadataValue_StringValue:
		return k.StringValue
	case *nhv1.MetadataValue_BoolValue:
		return k.BoolValue
	case *nhv1.MetadataValue_ListValue:
		values := k.ListValue.GetValues()
		out := make([]any, len(values))
		for i, item := range values {
			out[i] = MetadataValue(item)
		}
		return out
	case *nhv1.MetadataValue_MapValue:
		return Metadata(k.MapValue.GetFields())
	default:
		return nil
	}
}

// Metadata turns a map<string, MetadataValue> field (metadata, raw, details, or a
// MetadataMap's fields) into a plain map[string]any; see MetadataValue.
func Metadata(fields map[string]*nhv1.MetadataValue) map[string]any {
	out := make(map[string]any, len(fields))
	for key, value := range fields {
		out[key] = MetadataValue(value)
	}
	return out
}

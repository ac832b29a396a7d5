package neuralheatmap

import (
	"reflect"
	"testing"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

func TestMetadataKeepsIntegersAndNesting(t *testing.T) {
	fields := map[string]*nhv1.MetadataValue{
		"step": {Kind: &nhv1.MetadataValue_IntValue{IntValue: 4900}},
		"mean": {Kind: &nhv1.MetadataValue_DoubleValue{DoubleValue: 0.5}},
		"ok":   {Kind: &nhv1.MetadataValue_BoolValue{BoolValue: true}},
		"none": {},
		"list": {Kind: &nhv1.MetadataValue_ListValue{ListValue: &nhv1.MetadataList{Values: []*nhv1.MetadataValue{
			{Kind: &nhv1.MetadataValue_IntValue{IntValue: 1}},
			{Kind: &nhv1.MetadataValue_MapValue{MapValue: &nhv1.MetadataMap{Fields: map[string]*nhv1.MetadataValue{
				"name": {Kind: &nhv1.MetadataValue_StringValue{StringValue: "x"}},
			}}}},
		}}}},
	}
	want := map[string]any{
		"step": int64(4900),
		"mean": 0.5,
		"ok":   true,
		"none": nil,
		"list": []any{int64(1), map[string]any{"name": "x"}},
	}
	if got := Metadata(fields); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v want %#v", got, want)
	}
}

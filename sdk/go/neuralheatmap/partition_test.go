package neuralheatmap

import (
	"encoding/json"
	"os"
	"testing"
)

// TestPartitionVectors checks Partition against protos/policy/partition.json, the table
// the Python contract checks too.
func TestPartitionVectors(t *testing.T) {
	raw, err := os.ReadFile("../../../protos/policy/partition.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Partitions int `json:"partitions"`
		Vectors    []struct {
			ModelID   string `json:"model_id"`
			Fnv1a32   uint32 `json:"fnv1a32"`
			Partition int    `json:"partition"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if table.Partitions != Partitions || len(table.Vectors) < 10 {
		t.Fatalf("table: %d partitions, %d vectors", table.Partitions, len(table.Vectors))
	}
	for _, v := range table.Vectors {
		if got := fnv1a32([]byte(v.ModelID)); got != v.Fnv1a32 {
			t.Errorf("fnv1a32(%q) = %d, want %d", v.ModelID, got, v.Fnv1a32)
		}
		if got := Partition(v.ModelID); got != v.Partition {
			t.Errorf("Partition(%q) = %d, want %d", v.ModelID, got, v.Partition)
		}
	}
}

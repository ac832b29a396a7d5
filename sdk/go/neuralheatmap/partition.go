package neuralheatmap

// Partitions is the number of partitions of the model space in the sharded shape
// (docs/deploy.md): a server owns a set of them, and a model belongs to exactly one.
const Partitions = 64

// Partition returns the partition (0 to Partitions-1) of a model id: FNV-1a 32 of the
// id's UTF-8 bytes modulo Partitions, the same function as the contract's
// neural_heatmap_contract.partition in Python; protos/policy/partition.json holds the
// test vectors both check.
func Partition(modelID string) int {
	return int(fnv1a32([]byte(modelID)) % Partitions)
}

func fnv1a32(data []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range data {
		h ^= uint32(b)
		h *= 16777619
	}
	return h
}

package neuralheatmap

// Tensors as Go slices: the little-endian float32/float64 bytes of nhv1.Tensor decoded
// and encoded without unsafe.

import (
	"encoding/binary"
	"fmt"
	"math"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// ElementCount is the product of a tensor's dimensions.
func ElementCount(shape []int64) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/int(d)) {
			return 0, fmt.Errorf("neuralheatmap: bad tensor shape %v", shape)
		}
		n *= int(d)
	}
	return n, nil
}

// Float32s decodes a tensor's little-endian bytes (float32, or float64 narrowed) without unsafe.
func Float32s(t *nhv1.Tensor) ([]float32, error) {
	n, err := ElementCount(t.GetShape())
	if err != nil {
		return nil, err
	}
	data := t.GetData()
	switch t.GetDtype() {
	case nhv1.DataType_DATA_TYPE_FLOAT32:
		if len(data) != n*4 {
			return nil, fmt.Errorf("neuralheatmap: tensor %v float32 needs %d bytes, got %d", t.GetShape(), n*4, len(data))
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[i*4:]))
		}
		return out, nil
	case nhv1.DataType_DATA_TYPE_FLOAT64:
		f64, err := Float64s(t)
		if err != nil {
			return nil, err
		}
		out := make([]float32, n)
		for i, v := range f64 {
			out[i] = float32(v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("neuralheatmap: unsupported tensor dtype %v", t.GetDtype())
	}
}

// Float64s decodes a float64 (or float32, widened) tensor.
func Float64s(t *nhv1.Tensor) ([]float64, error) {
	n, err := ElementCount(t.GetShape())
	if err != nil {
		return nil, err
	}
	data := t.GetData()
	switch t.GetDtype() {
	case nhv1.DataType_DATA_TYPE_FLOAT64:
		if len(data) != n*8 {
			return nil, fmt.Errorf("neuralheatmap: tensor %v float64 needs %d bytes, got %d", t.GetShape(), n*8, len(data))
		}
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[i*8:]))
		}
		return out, nil
	case nhv1.DataType_DATA_TYPE_FLOAT32:
		f32, err := Float32s(t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, n)
		for i, v := range f32 {
			out[i] = float64(v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("neuralheatmap: unsupported tensor dtype %v", t.GetDtype())
	}
}

// Float32Tensor encodes values as a float32 tensor of shape [len(values)].
func Float32Tensor(values []float32) *nhv1.Tensor {
	data := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(data[i*4:], math.Float32bits(v))
	}
	return &nhv1.Tensor{Shape: []int64{int64(len(values))}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: data}
}

package neuralheatmap

import (
	"context"
	"iter"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// DefaultIngestBatch is how many frames IngestActivations packs into one request message
// unless BatchSize says otherwise: batching is much cheaper than one message per frame.
const DefaultIngestBatch = 256

// IngestActivations streams frames to the server in batches (options: BatchSize) and says
// how many were stored and why others were not. A frame the server rejects does not fail
// the call; it is counted in Rejected. It is never retried: a retry could store frames
// twice. Pass a slice with slices.Values(frames).
func (c *Client) IngestActivations(ctx context.Context, frames iter.Seq[Frame], opts ...CallOption) (*IngestResult, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_IngestActivations_FullMethodName, func(ctx context.Context) (*nhv1.IngestActivationsResponse, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.RPC.IngestActivations(ctx, cfg.grpcOpts...)
		if err != nil {
			return nil, err
		}
		batch := make([]*nhv1.ActivationFrame, 0, cfg.batchSize)
		flush := func() bool {
			err = s.Send(&nhv1.IngestActivationsRequest{Frames: batch})
			batch = batch[:0]
			return err == nil
		}
		for f := range frames {
			if batch = append(batch, frameOf(f)); len(batch) == cfg.batchSize && !flush() {
				break // the server ended the call: CloseAndRecv returns its status
			}
		}
		if err == nil && len(batch) > 0 {
			flush()
		}
		return s.CloseAndRecv()
	})
	if err != nil {
		return nil, err
	}
	return &IngestResult{
		Accepted: resp.GetFramesAccepted(), Rejected: resp.GetFramesRejected(),
		Rejections: resp.GetRejections(), Details: Metadata(resp.GetDetails()),
	}, nil
}

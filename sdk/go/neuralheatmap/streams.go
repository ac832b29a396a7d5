package neuralheatmap

import (
	"context"
	"errors"
	"io"
	"iter"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// Live streams other than SubscribeAnomalies are iterators: range over them, break to
// cancel the stream, and read a failure as the last pair's error (an *Error). They do not
// reconnect: heatmaps, correlations and temporal updates are snapshots, so a caller who
// wants them again simply ranges over a new iterator. Anomalies, which must not be lost or
// repeated, have SubscribeAnomalies.

// recvStream is the receiving side of a generated server stream.
type recvStream[T any] interface{ Recv() (T, error) }

// stream yields convert(msg) for each message of the stream open returns; convert's ok=false
// skips a message (a heartbeat). Breaking out of the range cancels the call.
func stream[M any, T any](ctx context.Context, open func(context.Context) (recvStream[M], error), convert func(M) (T, bool, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := open(ctx)
		if err != nil {
			yield(zero, asError(err))
			return
		}
		for {
			msg, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(zero, asError(err))
				return
			}
			v, ok, err := convert(msg)
			if err != nil {
				yield(zero, err)
				return
			}
			if ok && !yield(v, nil) {
				return
			}
		}
	}
}

// SubscribeHeatmap streams the newest activations of every layer; a slow reader gets the
// newest frame per layer (options: Models, Layers; the models must exist).
func (c *Client) SubscribeHeatmap(ctx context.Context, opts ...CallOption) iter.Seq2[*HeatmapFrame, error] {
	cfg := newCallConfig(opts)
	req := &nhv1.SubscribeHeatmapRequest{ModelIds: cfg.modelIDs, LayerIds: cfg.layerIDs}
	return stream(ctx, func(ctx context.Context) (recvStream[*nhv1.SubscribeHeatmapResponse], error) {
		return c.RPC.SubscribeHeatmap(ctx, req, cfg.grpcOpts...)
	}, func(m *nhv1.SubscribeHeatmapResponse) (*HeatmapFrame, bool, error) {
		f, err := heatmapOf(m.GetUpdate())
		return f, err == nil, err
	})
}

// SubscribeCorrelations streams correlation matrices as the server recomputes them.
func (c *Client) SubscribeCorrelations(ctx context.Context, opts ...CallOption) iter.Seq2[*Matrix, error] {
	cfg := newCallConfig(opts)
	return stream(ctx, func(ctx context.Context) (recvStream[*nhv1.SubscribeCorrelationsResponse], error) {
		return c.RPC.SubscribeCorrelations(ctx, &nhv1.SubscribeCorrelationsRequest{}, cfg.grpcOpts...)
	}, func(m *nhv1.SubscribeCorrelationsResponse) (*Matrix, bool, error) {
		mx, err := correlationUpdateOf(m.GetUpdate())
		return mx, err == nil, err
	})
}

// SubscribeTemporal streams temporal patterns as the server recomputes them.
func (c *Client) SubscribeTemporal(ctx context.Context, opts ...CallOption) iter.Seq2[*TemporalUpdate, error] {
	cfg := newCallConfig(opts)
	return stream(ctx, func(ctx context.Context) (recvStream[*nhv1.SubscribeTemporalResponse], error) {
		return c.RPC.SubscribeTemporal(ctx, &nhv1.SubscribeTemporalRequest{}, cfg.grpcOpts...)
	}, func(m *nhv1.SubscribeTemporalResponse) (*TemporalUpdate, bool, error) {
		return temporalOf(m.GetUpdate()), true, nil
	})
}

// StreamUpdates streams several kinds of update on one call; heartbeats are skipped
// (options: UpdateTypes, Models, MinSeverity, After). Unlike SubscribeAnomalies it does not
// resume; use After with the last sequence seen when opening it again.
func (c *Client) StreamUpdates(ctx context.Context, opts ...CallOption) iter.Seq2[*Update, error] {
	cfg := newCallConfig(opts)
	req := &nhv1.StreamUpdatesRequest{
		Types: cfg.updateTypes, AfterSequence: cfg.afterSeq, MinSeverity: cfg.minSeverity, ModelIds: cfg.modelIDs,
	}
	return stream(ctx, func(ctx context.Context) (recvStream[*nhv1.StreamUpdatesResponse], error) {
		return c.RPC.StreamUpdates(ctx, req, cfg.grpcOpts...)
	}, updateOf)
}

func correlationUpdateOf(u *nhv1.CorrelationUpdate) (*Matrix, error) {
	m, err := matrixOf(u.GetMatrix())
	if err == nil && m.Time.IsZero() {
		m.Time = timeOf(u.GetTimestamp())
	}
	return m, err
}

func updateOf(m *nhv1.StreamUpdatesResponse) (*Update, bool, error) {
	switch u := m.GetUpdate().(type) {
	case *nhv1.StreamUpdatesResponse_Heatmap:
		f, err := heatmapOf(u.Heatmap)
		return &Update{Heatmap: f}, err == nil, err
	case *nhv1.StreamUpdatesResponse_Correlation:
		mx, err := correlationUpdateOf(u.Correlation)
		return &Update{Correlation: mx}, err == nil, err
	case *nhv1.StreamUpdatesResponse_Temporal:
		return &Update{Temporal: temporalOf(u.Temporal)}, true, nil
	case *nhv1.StreamUpdatesResponse_Anomaly:
		return &Update{Anomalies: u.Anomaly}, true, nil
	case *nhv1.StreamUpdatesResponse_View:
		return &Update{View: u.View}, true, nil
	}
	return nil, false, nil // a heartbeat, or a kind this SDK does not know yet
}

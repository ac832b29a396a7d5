package neuralheatmap

import (
	"context"
	"errors"
	"io"
	"time"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// AckAnomalies acknowledges a durable consumer's anomalies (the AckAnomalies RPC): for a
// plain consumer every sequence up to sequence is done; for a group member, that one
// anomaly is. It returns the consumer's acknowledged cursor afterwards. An acknowledgement
// is idempotent, so it is retried like any read.
func (c *Client) AckAnomalies(ctx context.Context, consumer string, sequence uint64, opts ...CallOption) (uint64, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.AckAnomaliesRequest{Consumer: consumer, Sequence: sequence}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_AckAnomalies_FullMethodName, func(ctx context.Context) (*nhv1.AckAnomaliesResponse, error) {
		return c.RPC.AckAnomalies(ctx, req, cfg.grpcOpts...)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetAckedSequence(), nil
}

// ConsumeOptions narrows a durable consumer's subscription.
type ConsumeOptions struct {
	// Shared joins the consumer group of that name: each anomaly goes to one member, and
	// one not acknowledged within the group's ack deadline goes to another member.
	Shared bool
	// MinSeverity and ModelIDs filter a plain (not shared) consumer.
	MinSeverity nhv1.Severity
	ModelIDs    []string
	// Backoff spaces the reopenings; its MaxAttempts bounds them in a row without a message
	// in between (zero Backoff: DefaultBackoff, StreamReconnectLimit).
	Backoff Backoff
}

// Consume runs handler on every anomaly of the durable consumer named consumer until ctx
// ends or handler returns an error (ErrStop ends quietly). The service keeps the consumer's
// cursor: each anomaly is acknowledged once handler returns nil, and after a disconnect the
// stream is reopened under the same name and resumes after the last acknowledgement, so the
// caller keeps no state. An anomaly whose handler did not return nil is delivered again.
func (c *Client) Consume(ctx context.Context, consumer string, handler func(*nhv1.Anomaly) error, o *ConsumeOptions) error {
	if o == nil {
		o = &ConsumeOptions{}
	}
	bo := o.Backoff
	if bo.Initial == 0 {
		bo = DefaultBackoff
	}
	req := &nhv1.SubscribeAnomaliesRequest{
		Consumer: consumer, Shared: o.Shared, MinSeverity: o.MinSeverity, ModelIds: o.ModelIDs,
	}
	for failures := 0; ; failures++ {
		progressed, err := c.consumeOnce(ctx, req, handler)
		if errors.Is(err, ErrStop) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !Resumable(err) && !errors.Is(err, io.EOF) {
			return asError(err)
		}
		if progressed {
			failures = 0
		}
		if bo.MaxAttempts > 0 && failures >= bo.MaxAttempts {
			return asError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.Delay(failures)):
		}
	}
}

// consumeOnce reads one stream until it ends; every handled anomaly is acknowledged. It
// reports whether any message (an update or a heartbeat) arrived: the stream made progress.
func (c *Client) consumeOnce(ctx context.Context, req *nhv1.SubscribeAnomaliesRequest, handler func(*nhv1.Anomaly) error) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.RPC.SubscribeAnomalies(ctx, req)
	if err != nil {
		return false, err
	}
	for progressed := false; ; progressed = true {
		msg, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		for _, a := range msg.GetUpdate().GetAnomalies() {
			if err := handler(a); err != nil {
				return true, err
			}
			if _, err := c.AckAnomalies(ctx, req.GetConsumer(), a.GetSequence()); err != nil {
				return true, err
			}
		}
	}
}

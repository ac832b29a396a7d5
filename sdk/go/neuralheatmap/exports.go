package neuralheatmap

import (
	"context"
	"errors"
	"fmt"
	"io"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// ExportCorrelationMatrix has the server write the correlation matrix to filename (no path
// separators) inside its export directory and says what it wrote (options: Models,
// Layers, UseViewFilter). It rewrites the same file when repeated, so it retries.
func (c *Client) ExportCorrelationMatrix(ctx context.Context, filename string, format nhv1.ExportFormat, opts ...CallOption) (*nhv1.ExportResult, error) {
	cfg := newCallConfig(opts)
	req := &nhv1.ExportCorrelationMatrixRequest{
		Filename: filename, Format: format, ModelIds: cfg.modelIDs, LayerIds: cfg.layerIDs,
		UseViewFilter: cfg.useViewFilter,
	}
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_ExportCorrelationMatrix_FullMethodName, func(ctx context.Context) (*nhv1.ExportCorrelationMatrixResponse, error) {
		return c.RPC.ExportCorrelationMatrix(ctx, req, cfg.grpcOpts...)
	})
	return resp.GetResult(), err
}

// ListExports returns the files in the server's export directory.
func (c *Client) ListExports(ctx context.Context, opts ...CallOption) ([]*nhv1.ExportedFile, error) {
	cfg := newCallConfig(opts)
	resp, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_ListExports_FullMethodName, func(ctx context.Context) (*nhv1.ListExportsResponse, error) {
		return c.RPC.ListExports(ctx, &nhv1.ListExportsRequest{}, cfg.grpcOpts...)
	})
	return resp.GetFiles(), err
}

// errShortDownload marks a download whose chunks did not add up to the announced size.
var errShortDownload = errors.New("neuralheatmap: download ended before the announced size")

// DownloadExport writes the exported file name (from ListExports or an ExportResult) to w
// and returns the bytes written. Chunks must arrive in order and add up to the file's
// announced size, or the download fails. It retries a transient failure only while
// nothing has been written to w yet (a retry after that would duplicate bytes in w).
func (c *Client) DownloadExport(ctx context.Context, name string, w io.Writer, opts ...CallOption) (int64, error) {
	cfg := newCallConfig(opts)
	var written int64
	_, err := invoke(ctx, cfg, nhv1.NeuralHeatmapService_DownloadExport_FullMethodName, func(ctx context.Context) (struct{}, error) {
		err := c.download(ctx, name, w, cfg, &written)
		var p *permanent
		if err != nil && written > 0 && !errors.As(err, &p) {
			err = &permanent{err} // retried only while w is untouched
		}
		return struct{}{}, err
	})
	var p *permanent
	if errors.As(err, &p) {
		err = asError(p.err)
	}
	return written, err
}

func (c *Client) download(ctx context.Context, name string, w io.Writer, cfg *callConfig, written *int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.RPC.DownloadExport(ctx, &nhv1.DownloadExportRequest{Name: name}, cfg.grpcOpts...)
	if err != nil {
		return err
	}
	var total uint64
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if uint64(*written) != total {
				return fmt.Errorf("%w: %d of %d bytes of %s", errShortDownload, *written, total, name)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if resp.GetOffset() != uint64(*written) {
			return fmt.Errorf("neuralheatmap: chunk of %s at offset %d, expected %d", name, resp.GetOffset(), *written)
		}
		total = resp.GetTotalSize()
		n, err := w.Write(resp.GetChunk())
		*written += int64(n)
		if err != nil {
			return &permanent{err}
		}
	}
}

// permanent wraps a failure that must not be retried even when its code says transient.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

package neuralheatmap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"strings"
	"time"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := neuralheatmap.Dial(bridgeAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.IngestActivations(ctx, sineFrames("ex-corr", 100))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", res.Accepted, "rejected", res.Rejected)

	m, err := c.CorrelationMatrix(ctx, neuralheatmap.Models("ex-corr"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Labels, m.Size)
	fmt.Printf("a~b %.3f, a~a %.3f\n", m.At(0, 1), m.At(0, 0))
	// Output:
	// stored 200 rejected 0
	// [ex-corr/a ex-corr/b] 2
	// a~b -1.000, a~a 1.000
}

func ExampleClient_SubscribeAnomalies() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := neuralheatmap.Dial(bridgeAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.IngestActivations(ctx, sineFrames("ex-nan", 10, 5)); err != nil {
		log.Fatal(err)
	}
	// Every anomaly after sequence 0, exactly once, resuming by itself if the stream breaks.
	err = c.SubscribeAnomalies(ctx, 0, func(a *nhv1.Anomaly) error {
		fmt.Println(a.GetModelId(), a.GetLayer(), a.GetAnomalyType(), a.GetSeverity())
		return neuralheatmap.ErrStop
	}, &neuralheatmap.SubscribeOptions{ModelIDs: []string{"ex-nan"}})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// ex-nan a ANOMALY_TYPE_NON_FINITE SEVERITY_CRITICAL
}

func ExampleError() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := neuralheatmap.Dial(bridgeAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.SetFilter(ctx, &nhv1.Filter{IntensityRange: &nhv1.IntensityRange{Max: math.NaN()}})
	var e *neuralheatmap.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, neuralheatmap.ErrInvalidArgument), e.Code, e.Reason)
		for _, v := range e.FieldViolations {
			fmt.Println("field:", v.GetField())
		}
	}
	// Output:
	// true InvalidArgument INVALID_ARGUMENT
	// field: filter.intensity_range.max
}

func ExampleClient_DownloadExport() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := neuralheatmap.Dial(bridgeAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.IngestActivations(ctx, sineFrames("ex-export", 100)); err != nil {
		log.Fatal(err)
	}
	res, err := c.ExportCorrelationMatrix(ctx, "ex-export.csv", nhv1.ExportFormat_EXPORT_FORMAT_CSV,
		neuralheatmap.Models("ex-export"))
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := c.DownloadExport(ctx, res.GetFiles()[0].GetName(), &buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetFiles()[0].GetName(), n == int64(res.GetBytes()))
	fmt.Println(strings.SplitN(buf.String(), "\n", 2)[0])
	// Output:
	// ex-export.csv true
	// ,ex-export/a,ex-export/b
}

func ExampleClient_SubscribeHeatmap() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := neuralheatmap.Dial(bridgeAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.IngestActivations(ctx, sineFrames("ex-heat", 1)); err != nil {
		log.Fatal(err) // a heatmap stream names models that exist
	}
	go func() { // a training job keeps sending frames
		for ctx.Err() == nil {
			_, _ = c.IngestActivations(ctx, sineFrames("ex-heat", 1))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for f, err := range c.SubscribeHeatmap(ctx, neuralheatmap.Models("ex-heat"), neuralheatmap.Layers("a")) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f.ModelID, f.Layer, f.Width, "x", f.Height, len(f.Values), "units")
		break // ends the stream
	}
	// Output:
	// ex-heat a 2 x 2 4 units
}

// Command anomaly-consumer is a small service that consumes the Neural Heatmap anomaly
// stream through the gRPC bridge and survives restarts without losing or repeating an
// anomaly.
//
// For every anomaly it (1) appends the sequence to the -out file and fsyncs it (the "sink"),
// then (2) stores the sequence in the -state file atomically (write a temp file, fsync,
// rename, fsync the directory). On start it resumes after max(state, last line of -out):
// if it was killed between (1) and (2), the sink already holds that anomaly, so it is not
// delivered again. The result: every sequence exactly once in -out, in order, across
// SIGKILLs of the consumer and restarts of the bridge (the stream resumes with
// after_sequence on UNAVAILABLE).
//
// With -consumer NAME there is no state file: the service keeps the durable consumer's
// acknowledged cursor, each anomaly is acknowledged after the sink write, and a restarted
// consumer resumes after the last acknowledgement. A sequence at or below the sink's last
// line (killed between the sink write and the acknowledgement) is acknowledged again without
// a second write. With -shared, several processes under one name split the anomalies
// between them (a consumer group; the sink then holds this member's share, not in order).
//
//	anomaly-consumer -target localhost:50051 -state consumer.state -out anomalies.log
//	    [-token T] [-models m1,m2] [-min-severity high] [-idle-timeout 15s]
//	anomaly-consumer -target localhost:50051 -consumer billing [-shared] -out anomalies.log
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// reconnect is how both modes reopen a broken stream: soon, then at most every 2 s.
var reconnect = neuralheatmap.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}

func main() {
	target := flag.String("target", neuralheatmap.DefaultAddress, "bridge address host:port")
	statePath := flag.String("state", "anomaly-consumer.state", "file holding the last processed sequence")
	outPath := flag.String("out", "anomalies.log", "file every processed sequence is appended to")
	token := flag.String("token", os.Getenv("NEURAL_HEATMAP_TOKEN"), "bearer token (plaintext only on loopback)")
	models := flag.String("models", "", "comma list of model ids (empty: every model)")
	minSeverity := flag.String("min-severity", "", "low, medium, high or critical (empty: any)")
	idle := flag.Duration("idle-timeout", neuralheatmap.DefaultIdleTimeout,
		"reopen a stream that brings neither an anomaly nor a heartbeat for this long")
	consumer := flag.String("consumer", "", "durable consumer name: the service keeps the cursor (no -state file)")
	shared := flag.Bool("shared", false, "with -consumer: join the consumer group of that name")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("anomaly-consumer: ")

	mode := func(ctx context.Context, client *neuralheatmap.Client, out *sink) error {
		return run(ctx, client, out, *statePath, *models, *minSeverity, *idle)
	}
	if *consumer != "" {
		mode = func(ctx context.Context, client *neuralheatmap.Client, out *sink) error {
			return runConsumer(ctx, client, out, *consumer, *shared)
		}
	}
	if err := serve(*target, *token, *outPath, mode); err != nil {
		log.Fatal(err)
	}
}

// sink is the -out file and the last sequence written to it.
type sink struct {
	file *os.File
	last uint64
}

// write appends one sequence and fsyncs it: once it returns, the anomaly is processed.
func (s *sink) write(seq uint64) error {
	if _, err := fmt.Fprintf(s.file, "%d\n", seq); err != nil {
		return err
	}
	s.last = seq
	return s.file.Sync()
}

// serve is what both modes share: stop on SIGINT/SIGTERM, open the sink, dial the bridge,
// then consume with mode until the context ends.
func serve(target, token, outPath string,
	mode func(context.Context, *neuralheatmap.Client, *sink) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	file, last, err := openSink(outPath)
	if err != nil {
		return err
	}
	defer file.Close()
	opts := []neuralheatmap.Option{}
	if token != "" {
		opts = append(opts, neuralheatmap.WithToken(token)) // plaintext: loopback only (the SDKs' token rule)
	}
	client, err := neuralheatmap.Dial(target, opts...)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := mode(ctx, client, &sink{file: file, last: last}); err != nil {
		return err
	}
	log.Printf("stopped")
	return nil
}

// run is the default mode: the -state file keeps the cursor, the sink catches it up.
func run(ctx context.Context, client *neuralheatmap.Client, out *sink,
	statePath, models, minSeverity string, idle time.Duration) error {
	lastState, err := readState(statePath)
	if err != nil {
		return err
	}
	after := max(lastState, out.last)
	if after != lastState {
		// Killed after the sink write but before the state write: catch the state up.
		if err := writeState(statePath, after); err != nil {
			return err
		}
	}
	log.Printf("resuming after sequence %d (state %d, sink %d)", after, lastState, out.last)

	sev, err := parseSeverity(minSeverity)
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range strings.Split(models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			ids = append(ids, m)
		}
	}
	handler := func(a *nhv1.Anomaly) error {
		if err := out.write(a.GetSequence()); err != nil {
			return err
		}
		return writeState(statePath, a.GetSequence())
	}
	return client.SubscribeAnomalies(ctx, after, handler, &neuralheatmap.SubscribeOptions{
		MinSeverity: sev,
		ModelIDs:    ids,
		IdleTimeout: idle,
		Backoff:     reconnect,
		OnReconnect: func(err error, d time.Duration, seq uint64) {
			log.Printf("stream broke (%v); resuming after %d in %v", err, seq, d)
		},
	})
}

// runConsumer is the -consumer mode: the service keeps the cursor, the sink deduplicates.
func runConsumer(ctx context.Context, client *neuralheatmap.Client, out *sink,
	consumer string, shared bool) error {
	log.Printf("consuming as %q (shared=%v)", consumer, shared)
	handler := func(a *nhv1.Anomaly) error {
		if !shared && a.GetSequence() <= out.last {
			return nil // written before a kill, not yet acknowledged: acknowledge only
		}
		return out.write(a.GetSequence())
	}
	err := client.Consume(ctx, consumer, handler, &neuralheatmap.ConsumeOptions{
		Shared:  shared,
		Backoff: reconnect,
	})
	if errors.Is(err, context.Canceled) {
		return nil // SIGINT or SIGTERM: a clean stop
	}
	return err
}

func parseSeverity(s string) (nhv1.Severity, error) {
	if s == "" {
		return nhv1.Severity_SEVERITY_UNSPECIFIED, nil
	}
	v, ok := nhv1.Severity_value["SEVERITY_"+strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("unknown severity %q", s)
	}
	return nhv1.Severity(v), nil
}

// openSink opens the output file for appending and returns the last complete sequence in it.
// A torn last line (killed mid-write) is cut off.
func openSink(path string) (*os.File, uint64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, err
	}
	var last uint64
	var good int64 // offset just after the last complete line
	var offset int64
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) {
			break // a partial line (no newline) is dropped below
		}
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		offset += int64(len(line))
		n, perr := strconv.ParseUint(strings.TrimSpace(line), 10, 64)
		if perr != nil {
			f.Close()
			return nil, 0, fmt.Errorf("%s: bad line %q", path, line)
		}
		last, good = n, offset
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, last, nil
}

func readState(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// writeState replaces the state file atomically: a reader sees the old or the new value.
func writeState(path string, seq uint64) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := fmt.Fprintf(tmp, "%d\n", seq); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

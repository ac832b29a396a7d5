// Command conformance is the Go thin client of the conformance suite: it executes the RPCs
// that the scenario interpreter (tests/conformance/runner.py) sends it and answers each with
// the responses and the status, so the scenarios run through grpc-go without a Go copy of
// the interpreter. One JSON request per line on stdin, one JSON answer per line on stdout;
// the protocol is described in tests/conformance/README.md ("Thin clients").
//
//	(cd sdk/go && go build -o /tmp/nh-conformance ./conformance)
//	python -m tests.conformance.runner --target H:P --language go --client /tmp/nh-conformance
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1" // registers the service
	"github.com/neural-heatmap/neural-heatmap/sdk/go/neuralheatmap"
)

// maxMessageBytes is every client's limit (protos/policy/client.json).
const maxMessageBytes = neuralheatmap.DefaultMaxMessageBytes

type request struct {
	ID           json.RawMessage   `json:"id"`
	Op           string            `json:"op"`
	Target       string            `json:"target"`
	Method       string            `json:"method"`
	Requests     []json.RawMessage `json:"requests"`
	Metadata     map[string]string `json:"metadata"`
	TimeoutMs    int64             `json:"timeout_ms"`
	MaxResponses *int              `json:"max_responses"`
}

// detail is one google.rpc.Status detail, undecoded: the interpreter decodes it.
type detail struct {
	Type  string `json:"type"`
	Value []byte `json:"value"`
}

type answer struct {
	ID        json.RawMessage   `json:"id"`
	Responses []json.RawMessage `json:"responses,omitempty"`
	Open      bool              `json:"open,omitempty"`
	Code      string            `json:"code,omitempty"`
	Message   string            `json:"message,omitempty"`
	Details   []detail          `json:"details,omitempty"`
	Error     string            `json:"error,omitempty"`
}

type call struct {
	stream grpc.ClientStream
	output protoreflect.MessageDescriptor
	cancel context.CancelFunc
}

var (
	conns   = map[string]*grpc.ClientConn{}
	streams = map[string]*call{} // open server streams by request id
	upper   = regexp.MustCompile(`([a-z])([A-Z])`)
)

func failed(format string, a ...any) answer { return answer{Error: fmt.Sprintf(format, a...)} }

// statusOf renders a failed call: "InvalidArgument" becomes "INVALID_ARGUMENT".
func statusOf(err error) answer {
	st := status.Convert(err)
	a := answer{Code: strings.ToUpper(upper.ReplaceAllString(st.Code().String(), "${1}_${2}")), Message: st.Message()}
	for _, d := range st.Proto().GetDetails() {
		a.Details = append(a.Details, detail{Type: string(d.MessageName()), Value: d.GetValue()})
	}
	return a
}

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// read answers up to limit more responses (all when limit is nil); the stream stays open when
// limit is reached, and is forgotten when it ends.
func read(id string, c *call, limit *int) answer {
	var a answer
	for limit == nil || len(a.Responses) < *limit {
		msg, err := newMessage(c.output)
		if err == nil {
			err = c.stream.RecvMsg(msg)
		}
		if err != nil {
			delete(streams, id)
			c.cancel()
			if errors.Is(err, io.EOF) {
				a.Code = "OK"
				return a
			}
			end := statusOf(err)
			end.Responses = a.Responses
			return end
		}
		b, err := protojson.Marshal(msg)
		if err != nil {
			return failed("response does not render as JSON: %v", err)
		}
		a.Responses = append(a.Responses, b)
	}
	a.Open = true
	return a
}

func dial(target string) (*grpc.ClientConn, error) {
	if c, ok := conns[target]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)))
	if err == nil {
		conns[target] = c
	}
	return c, err
}

// start makes any kind of call through one ClientStream: it sends every request, then reads.
func start(req *request) answer {
	svc, name, _ := strings.Cut(req.Method, "/")
	d, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return failed("no service %q", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return failed("no method %q in %s", name, svc)
	}
	var msgs []proto.Message
	for _, r := range req.Requests {
		msg, err := newMessage(md.Input())
		if err == nil {
			err = protojson.Unmarshal(r, msg)
		}
		if err != nil {
			return failed("request does not parse as %s: %v", md.Input().FullName(), err)
		}
		msgs = append(msgs, msg)
	}
	conn, err := dial(req.Target)
	if err != nil {
		return failed("dial %s: %v", req.Target, err)
	}
	ctx := metadata.NewOutgoingContext(context.Background(), metadata.New(req.Metadata))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
	desc := &grpc.StreamDesc{ClientStreams: md.IsStreamingClient(), ServerStreams: md.IsStreamingServer()}
	stream, err := conn.NewStream(ctx, desc, "/"+req.Method)
	if err != nil {
		cancel()
		return statusOf(err)
	}
	for _, m := range msgs {
		if stream.SendMsg(m) != nil {
			break // the server ended the call: RecvMsg returns its status
		}
	}
	_ = stream.CloseSend()
	c := &call{stream: stream, output: md.Output(), cancel: cancel}
	if !md.IsStreamingServer() {
		return read(string(req.ID), c, nil)
	}
	streams[string(req.ID)] = c
	return read(string(req.ID), c, req.MaxResponses)
}

func handle(req *request) answer {
	if req.Op == "" || req.Op == "call" {
		return start(req)
	}
	c, ok := streams[string(req.ID)]
	if !ok {
		return failed("no open stream %s", req.ID)
	}
	switch req.Op {
	case "next":
		return read(string(req.ID), c, req.MaxResponses)
	case "cancel":
		c.cancel()
		delete(streams, string(req.ID))
		return answer{Code: "CANCELLED", Message: "cancelled"}
	}
	return failed("unknown op %q", req.Op)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), maxMessageBytes)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		if strings.TrimSpace(in.Text()) == "" {
			continue
		}
		var req request
		a := failed("bad request line")
		if err := json.Unmarshal(in.Bytes(), &req); err == nil {
			a = handle(&req)
		}
		a.ID = req.ID
		if err := out.Encode(a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

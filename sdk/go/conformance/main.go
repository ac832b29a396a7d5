// Command conformance executes tests/conformance/scenarios.json against a live bridge,
// calling methods by name (grpc.ClientConn.Invoke / NewStream) with messages from the
// generated package's descriptors and protojson. Same output and semantics as the Python
// runner (tests/conformance/runner.py) and the TypeScript runner.
//
//	go run ./conformance --target 127.0.0.1:50051 [--auth-target H:P --token T]
//	    [--run go] [--scenarios path] [--only a,b] [--out results.json]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
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
	"google.golang.org/protobuf/types/known/timestamppb"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

type obj = map[string]any

type checkFailed struct{ msg string }

func (c *checkFailed) Error() string { return c.msg }

func failf(format string, a ...any) error { return &checkFailed{fmt.Sprintf(format, a...)} }

// Sentinels for path resolution: missing (path does not exist) and dflt (a field absent from an
// existing object: proto-JSON omits default values).
type sentinel string

const (
	missing sentinel = "<missing>"
	dflt    sentinel = "<default>"
)

var (
	varRe      = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)
	wholeVarRe = regexp.MustCompile(`^\$\{([A-Za-z0-9_]+)\}$`)
	segRe      = regexp.MustCompile(`^([^.\[\]]+)?((?:\[[^\]]*\])*)$`)
	selRe      = regexp.MustCompile(`\[([^\]]*)\]`)
	intRe      = regexp.MustCompile(`^-?\d+$`)
)

type options struct {
	target, authTarget, token, run, scenarios, out string
	only                                           []string
}

// ---------------------------------------------------------------------------- substitution

func toText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func substitute(v any, env map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if m := wholeVarRe.FindStringSubmatch(x); m != nil {
			val, ok := env[m[1]]
			if !ok {
				return nil, failf("variable ${%s} is not set", m[1])
			}
			return val, nil
		}
		var err error
		out := varRe.ReplaceAllStringFunc(x, func(s string) string {
			name := varRe.FindStringSubmatch(s)[1]
			val, ok := env[name]
			if !ok {
				err = failf("variable ${%s} is not set", name)
				return s
			}
			return toText(val)
		})
		return out, err
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := substitute(e, env)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case obj:
		out := obj{}
		for k, e := range x {
			s, err := substitute(e, env)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

// ---------------------------------------------------------------------------- paths

type segment struct {
	name      *string
	selectors []string
}

func splitDots(path string) []string {
	var parts []string
	depth, cur := 0, strings.Builder{}
	for _, ch := range path {
		switch ch {
		case '[':
			depth++
		case ']':
			depth--
		}
		if ch == '.' && depth == 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		} else {
			cur.WriteRune(ch)
		}
	}
	return append(parts, cur.String())
}

func splitPath(path string) ([]segment, error) {
	var segs []segment
	for _, part := range splitDots(path) {
		m := segRe.FindStringSubmatch(part)
		if m == nil {
			return nil, failf("bad path %q", path)
		}
		var s segment
		if m[1] != "" {
			name := m[1]
			s.name = &name
		}
		for _, sm := range selRe.FindAllStringSubmatch(m[2], -1) {
			s.selectors = append(s.selectors, sm[1])
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func resolve(doc any, path string) (any, error) {
	segs, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	return resolveSegs(doc, segs), nil
}

func resolveSegs(cur any, segs []segment) any {
	for i, seg := range segs {
		if seg.name != nil {
			o, ok := cur.(obj)
			if !ok {
				return missing
			}
			v, ok := o[*seg.name]
			if !ok {
				if i == len(segs)-1 && len(seg.selectors) == 0 {
					return dflt
				}
				return missing
			}
			cur = v
		}
		for j, sel := range seg.selectors {
			list, ok := cur.([]any)
			if !ok {
				return missing
			}
			if sel == "*" {
				rest := segs[i+1:]
				if j+1 < len(seg.selectors) {
					rest = append([]segment{{selectors: seg.selectors[j+1:]}}, segs[i+1:]...)
				}
				out := []any{}
				for _, item := range list {
					if r := resolveSegs(item, rest); r != missing {
						out = append(out, r)
					}
				}
				return out
			}
			if intRe.MatchString(sel) {
				idx, _ := strconv.Atoi(sel)
				if idx < -len(list) || idx >= len(list) {
					return missing
				}
				if idx < 0 {
					idx += len(list)
				}
				cur = list[idx]
				continue
			}
			var found any = missing
			for _, item := range list {
				o, ok := item.(obj)
				if !ok {
					continue
				}
				all := true
				for _, cond := range strings.Split(sel, ",") {
					k, v, _ := strings.Cut(cond, "=")
					got, ok := o[k]
					if !ok {
						got = ""
					}
					if toText(got) != v {
						all = false
						break
					}
				}
				if all {
					found = item
					break
				}
			}
			if found == missing {
				return missing
			}
			cur = found
		}
	}
	return cur
}

// ---------------------------------------------------------------------------- checks

func num(v any) (float64, error) {
	switch x := v.(type) {
	case sentinel:
		if x == dflt {
			return 0, nil
		}
	case float64:
		return x, nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, nil
		}
	}
	return 0, failf("expected a number, got %s", short(v))
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case float64:
		return x == 0
	case bool:
		return !x
	case string:
		return x == "" || x == "0" || strings.HasSuffix(x, "_UNSPECIFIED")
	case []any:
		return len(x) == 0
	case obj:
		return len(x) == 0
	}
	return false
}

func equal(actual, expected any) bool {
	if actual == dflt {
		return isZero(expected)
	}
	if actual == missing {
		return false
	}
	_, eb := expected.(bool)
	_, ab := actual.(bool)
	if eb || ab {
		return actual == expected
	}
	_, en := expected.(float64)
	_, an := actual.(float64)
	if en || an {
		a, err1 := num(actual)
		e, err2 := num(expected)
		return err1 == nil && err2 == nil && a == e
	}
	switch e := expected.(type) {
	case []any:
		a, ok := actual.([]any)
		if !ok || len(a) != len(e) {
			return false
		}
		for i := range e {
			if !equal(a[i], e[i]) {
				return false
			}
		}
		return true
	case obj:
		a, ok := actual.(obj)
		if !ok || len(a) != len(e) {
			return false
		}
		for k, ev := range e {
			av, ok := a[k]
			if !ok || !equal(av, ev) {
				return false
			}
		}
		return true
	}
	return actual == expected
}

func short(v any) string {
	if s, ok := v.(sentinel); ok {
		return string(s)
	}
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func asList(v any, path string) ([]any, error) {
	if v == dflt {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, failf("%s: expected a list, got %s", path, short(v))
	}
	return l, nil
}

func check(doc any, spec obj, digests map[string]string) error {
	path, _ := spec["path"].(string)
	v, err := resolve(doc, path)
	if err != nil {
		return err
	}
	if want, ok := spec["exists"]; ok {
		exists := v != missing && v != dflt
		if exists != want {
			return failf("%s: exists is %v, expected %v", path, exists, want)
		}
		return nil
	}
	if v == missing {
		return failf("%s: not found", path)
	}
	ops := make([]string, 0, len(spec))
	for op := range spec {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		want := spec[op]
		switch op {
		case "path", "tol":
		case "eq":
			if !equal(v, want) {
				return failf("%s: got %s, expected %s", path, short(v), short(want))
			}
		case "approx":
			tol := 1e-9
			if t, ok := spec["tol"].(float64); ok {
				tol = t
			}
			a, err := num(v)
			if err != nil {
				return err
			}
			w, _ := num(want)
			if !(math.Abs(a-w) <= tol) {
				return failf("%s: got %s, expected %v +- %v", path, short(v), w, tol)
			}
		case "gt", "ge", "lt", "le":
			a, err := num(v)
			if err != nil {
				return err
			}
			b, err := num(want)
			if err != nil {
				return err
			}
			ok := map[string]bool{"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
			if !ok {
				return failf("%s: got %s, expected %s %s", path, short(v), op, short(want))
			}
		case "len", "len_ge":
			l, err := asList(v, path)
			if err != nil {
				return err
			}
			w, _ := num(want)
			if op == "len" && float64(len(l)) != w {
				return failf("%s: length %d, expected %v", path, len(l), w)
			}
			if op == "len_ge" && float64(len(l)) < w {
				return failf("%s: length %d, expected >= %v", path, len(l), w)
			}
		case "contains":
			l, err := asList(v, path)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(l, func(x any) bool { return equal(x, want) }) {
				return failf("%s: %s does not contain %s", path, short(l), short(want))
			}
		case "all_eq":
			l, err := asList(v, path)
			if err != nil {
				return err
			}
			for _, x := range l {
				if !equal(x, want) {
					return failf("%s: element %s != %s", path, short(x), short(want))
				}
			}
		case "all_gt":
			l, err := asList(v, path)
			if err != nil {
				return err
			}
			w, err := num(want)
			if err != nil {
				return err
			}
			for _, x := range l {
				a, err := num(x)
				if err != nil {
					return err
				}
				if !(a > w) {
					return failf("%s: element %s not > %s", path, short(x), short(want))
				}
			}
		case "strictly_increasing":
			l, err := asList(v, path)
			if err != nil {
				return err
			}
			inc := true
			prev := math.Inf(-1)
			for _, x := range l {
				a, err := num(x)
				if err != nil {
					return err
				}
				if a <= prev {
					inc = false
				}
				prev = a
			}
			if inc != want {
				return failf("%s: %s strictly increasing is not %v", path, short(l), want)
			}
		case "tensor":
			s, _ := want.(obj)
			if err := checkTensor(v, s, path, digests); err != nil {
				return err
			}
		default:
			return failf("%s: unknown check %q", path, op)
		}
	}
	return nil
}

func checkTensor(v any, spec obj, path string, digests map[string]string) error {
	t, ok := v.(obj)
	if !ok {
		return failf("%s: not a tensor: %s", path, short(v))
	}
	var shape []int
	if raw, ok := t["shape"].([]any); ok {
		for _, d := range raw {
			n, err := num(d)
			if err != nil {
				return err
			}
			shape = append(shape, int(n))
		}
	}
	dtype, _ := t["dtype"].(string)
	if dtype == "" {
		dtype = "DATA_TYPE_UNSPECIFIED"
	}
	data, _ := t["data"].(string)
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return failf("%s: bad base64: %v", path, err)
	}
	n := 0
	if len(shape) > 0 {
		n = 1
		for _, d := range shape {
			n *= d
		}
	}
	var values []float64
	switch dtype {
	case "DATA_TYPE_FLOAT32":
		if len(raw) != n*4 {
			return failf("%s: tensor has %d bytes, shape %v x 4 needs %d", path, len(raw), shape, n*4)
		}
		for i := 0; i < n; i++ {
			values = append(values, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))))
		}
	case "DATA_TYPE_FLOAT64":
		if len(raw) != n*8 {
			return failf("%s: tensor has %d bytes, shape %v x 8 needs %d", path, len(raw), shape, n*8)
		}
		for i := 0; i < n; i++ {
			values = append(values, math.Float64frombits(binary.LittleEndian.Uint64(raw[i*8:])))
		}
	default:
		return failf("%s: unknown tensor dtype %s", path, dtype)
	}
	if want, ok := spec["shape"].([]any); ok {
		okShape := len(want) == len(shape)
		for i := 0; okShape && i < len(want); i++ {
			w, _ := num(want[i])
			okShape = int(w) == shape[i]
		}
		if !okShape {
			return failf("%s: shape %v, expected %v", path, shape, want)
		}
	}
	if want, ok := spec["dtype"].(string); ok && want != dtype {
		return failf("%s: dtype %s, expected %s", path, dtype, want)
	}
	if tolv, ok := spec["symmetric_unit_diagonal"]; ok {
		tol, _ := num(tolv)
		if len(shape) != 2 || shape[0] != shape[1] {
			return failf("%s: not square: %v", path, shape)
		}
		sz := shape[0]
		for i := 0; i < sz; i++ {
			if d := values[i*sz+i]; !(math.Abs(d-1) <= tol) {
				return failf("%s: diagonal [%d,%d] = %v, expected 1", path, i, i, d)
			}
			for j := i + 1; j < sz; j++ {
				if a, b := values[i*sz+j], values[j*sz+i]; !(math.Abs(a-b) <= tol) {
					return failf("%s: [%d,%d] = %v but [%d,%d] = %v", path, i, j, a, j, i, b)
				}
			}
		}
	}
	if limv, ok := spec["abs_le"]; ok {
		lim, _ := num(limv)
		for k, x := range values {
			if !(math.Abs(x) <= lim) {
				return failf("%s: element %d = %v exceeds %v in magnitude", path, k, x, lim)
			}
		}
	}
	if els, ok := spec["elements"].([]any); ok {
		for _, e := range els {
			el, _ := e.([]any)
			if len(el) != 4 || len(shape) != 2 {
				return failf("%s: bad element check %s", path, short(e))
			}
			i, _ := num(el[0])
			j, _ := num(el[1])
			w, _ := num(el[2])
			tol, _ := num(el[3])
			x := values[int(i)*shape[1]+int(j)]
			if !(math.Abs(x-w) <= tol) {
				return failf("%s: [%v,%v] = %v, expected %v +- %v", path, i, j, x, w, tol)
			}
		}
	}
	if name, ok := spec["digest"].(string); ok {
		sum := sha256.Sum256(raw)
		digests[name] = hex.EncodeToString(sum[:])
	}
	return nil
}

// ---------------------------------------------------------------------------- generated frames

func f(o obj, key string, d float64) float64 {
	if v, ok := o[key].(float64); ok {
		return v
	}
	return d
}

// layerValue computes one unit's activation in float64 with the same operation order as the
// other runners; explicit float64() conversions keep the compiler from fusing into FMA.
func layerValue(layer obj, k, u int, t float64) (float64, error) {
	sig, _ := layer["signal"].(obj)
	amp, offset, freq := f(sig, "amp", 1.0), f(sig, "offset", 0.0), f(sig, "freq", 0.0)
	var s float64
	switch sig["kind"] {
	case "sine":
		w := float64(2.0*math.Pi) * freq
		s = float64(amp*math.Sin(float64(w*t))) + offset
	case "ramp":
		s = float64(f(sig, "slope", 0.0)*float64(k)) + offset
	case "multisine":
		w := float64(float64(2.0*math.Pi)*freq) * float64(u+1)
		s = float64(amp*math.Sin(float64(w*t)+float64(0.5*float64(u)))) + offset
	default:
		return 0, failf("unknown signal kind %v", sig["kind"])
	}
	gain, spread, bias := f(layer, "gain", 1.0), f(layer, "spread", 0.0), f(layer, "bias", 0.0)
	return float64(float64(gain*s)*float64(1.0+float64(spread*float64(u)))) + bias, nil
}

func generateRequests(gen obj) ([]proto.Message, error) {
	steps, dtMs := int(f(gen, "steps", 0)), int(f(gen, "dt_ms", 0))
	batch := int(f(gen, "batch", 100))
	var start int64
	switch s := gen["start_s"].(type) {
	case float64:
		start = int64(s)
	case string:
		if s != "now" {
			return nil, failf("bad start_s %q", s)
		}
		start = time.Now().Unix() - int64((steps*dtMs+999)/1000)
	}
	modelID, _ := gen["model_id"].(string)
	layers, _ := gen["layers"].([]any)
	var frames []*nhv1.ActivationFrame
	for k := 0; k < steps; k++ {
		ms := k * dtMs
		t := float64(ms) / 1000.0
		for _, l := range layers {
			layer, _ := l.(obj)
			units := int(f(layer, "units", 0))
			nanAt := false
			if ns, ok := layer["nan_steps"].([]any); ok {
				for _, x := range ns {
					if int(x.(float64)) == k {
						nanAt = true
					}
				}
			}
			data := make([]byte, 4*units)
			for u := 0; u < units; u++ {
				var v float64
				if u == 0 && nanAt {
					v = math.NaN()
				} else {
					var err error
					if v, err = layerValue(layer, k, u, t); err != nil {
						return nil, err
					}
				}
				binary.LittleEndian.PutUint32(data[u*4:], math.Float32bits(float32(v)))
			}
			step := int64(k)
			layerID, _ := layer["layer_id"].(string)
			frames = append(frames, &nhv1.ActivationFrame{
				ModelId: modelID,
				LayerId: layerID,
				Values:  &nhv1.Tensor{Shape: []int64{int64(units)}, Dtype: nhv1.DataType_DATA_TYPE_FLOAT32, Data: data},
				Timestamp: &timestamppb.Timestamp{
					Seconds: start + int64(ms/1000), Nanos: int32((ms % 1000) * 1_000_000),
				},
				Step: &step,
			})
		}
	}
	var out []proto.Message
	for i := 0; i < len(frames); i += batch {
		out = append(out, &nhv1.IngestActivationsRequest{Frames: frames[i:min(i+batch, len(frames))]})
	}
	return out, nil
}

// generatedDigest is the sha256 of every generated frame's tensor bytes in order.
func generatedDigest(gen obj) (string, error) {
	reqs, err := generateRequests(gen)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, r := range reqs {
		for _, fr := range r.(*nhv1.IngestActivationsRequest).GetFrames() {
			h.Write(fr.GetValues().GetData())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ---------------------------------------------------------------------------- calls

var service = nhv1.File_neural_heatmap_v1_neural_heatmap_service_proto.Services().ByName("NeuralHeatmapService")

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

func fromJSON(v any, d protoreflect.MessageDescriptor) (proto.Message, error) {
	msg, err := newMessage(d)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = obj{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := protojson.Unmarshal(b, msg); err != nil {
		return nil, failf("request does not parse as %s: %v", d.FullName(), err)
	}
	return msg, nil
}

func toJSON(m proto.Message) (any, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func call(ctx context.Context, conn *grpc.ClientConn, step obj) (any, error) {
	rpc, _ := step["rpc"].(string)
	m := service.Methods().ByName(protoreflect.Name(rpc))
	if m == nil {
		return nil, failf("no method %s in %s", rpc, service.FullName())
	}
	method := fmt.Sprintf("/%s/%s", service.FullName(), m.Name())
	timeout := time.Duration(f(step, "timeout_s", 30) * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := newMessage(m.Output())
	if err != nil {
		return nil, err
	}
	switch {
	case m.IsStreamingClient() && !m.IsStreamingServer():
		var reqs []proto.Message
		if g, ok := step["generate"].(obj); ok {
			if reqs, err = generateRequests(g); err != nil {
				return nil, err
			}
		} else if rs, ok := step["requests"].([]any); ok {
			for _, r := range rs {
				msg, err := fromJSON(r, m.Input())
				if err != nil {
					return nil, err
				}
				reqs = append(reqs, msg)
			}
		}
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, method)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if err := stream.SendMsg(r); err != nil {
				if errors.Is(err, io.EOF) {
					break // the server ended the call; RecvMsg has the status
				}
				return nil, err
			}
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		if err := stream.RecvMsg(resp); err != nil {
			return nil, err
		}
		return toJSON(resp)
	case m.IsStreamingServer() && !m.IsStreamingClient():
		req, err := fromJSON(step["request"], m.Input())
		if err != nil {
			return nil, err
		}
		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err != nil {
			return nil, err
		}
		if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if err := stream.CloseSend(); err != nil {
			return nil, err
		}
		take := int(f(step, "take", 1))
		collect, _ := step["collect"].(string)
		items := []any{}
		for len(items) < take {
			msg, _ := newMessage(m.Output())
			if err := stream.RecvMsg(msg); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, err
			}
			doc, err := toJSON(msg)
			if err != nil {
				return nil, err
			}
			got, err := resolve(doc, collect)
			if err != nil {
				return nil, err
			}
			switch g := got.(type) {
			case []any:
				items = append(items, g...)
			case sentinel:
			default:
				items = append(items, g)
			}
		}
		if len(items) < take {
			return nil, failf("stream ended after %d of %d items", len(items), take)
		}
		return obj{"items": items[:take]}, nil
	case !m.IsStreamingClient() && !m.IsStreamingServer():
		req, err := fromJSON(step["request"], m.Input())
		if err != nil {
			return nil, err
		}
		if err := conn.Invoke(ctx, method, req, resp); err != nil {
			return nil, err
		}
		return toJSON(resp)
	}
	return nil, failf("bidirectional methods are not supported by the runner")
}

// ---------------------------------------------------------------------------- scenarios

func withAuth(ctx context.Context, step obj, o *options) (context.Context, error) {
	auth, _ := step["auth"].(string)
	if auth == "" {
		auth = "none"
		if o.token != "" {
			auth = "token"
		}
	}
	switch auth {
	case "none":
		return ctx, nil
	case "wrong":
		tok := o.token
		if tok == "" {
			tok = "token"
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong-"+tok), nil
	}
	if o.token == "" {
		return nil, failf("step needs a token (--token or NEURAL_HEATMAP_TOKEN)")
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token), nil
}

func runStep(raw obj, conn *grpc.ClientConn, o *options, env map[string]any, digests map[string]string) error {
	deadline := time.Now().Add(time.Duration(f(raw, "retry_s", 0) * float64(time.Second)))
	expectErr, _ := raw["expect_error"].(string)
	for {
		err := func() error {
			base := obj{}
			for k, v := range raw {
				if k != "expect" && k != "capture" {
					base[k] = v
				}
			}
			s, err := substitute(base, env)
			if err != nil {
				return err
			}
			step := s.(obj)
			ctx, err := withAuth(context.Background(), step, o)
			if err != nil {
				return err
			}
			result, err := call(ctx, conn, step)
			if err != nil {
				var cf *checkFailed
				if errors.As(err, &cf) {
					return err
				}
				st := status.Convert(err)
				code := codeName(st.Code().String())
				if expectErr != "" {
					if code == expectErr {
						return nil
					}
					return failf("status %s, expected %s", code, expectErr)
				}
				return failf("status %s: %s", code, st.Message())
			}
			if expectErr != "" {
				return failf("call succeeded, expected status %s", expectErr)
			}
			captured := map[string]any{}
			if caps, ok := raw["capture"].(obj); ok {
				for name, p := range caps {
					ps, err := substitute(p, env)
					if err != nil {
						return err
					}
					v, err := resolve(result, ps.(string))
					if err != nil {
						return err
					}
					if _, isSentinel := v.(sentinel); isSentinel {
						return failf("capture %s: %v not found", name, p)
					}
					captured[name] = v
				}
			}
			local := map[string]any{}
			for k, v := range env {
				local[k] = v
			}
			for k, v := range captured {
				local[k] = v
			}
			stepDigests := map[string]string{}
			if exp, ok := raw["expect"].([]any); ok {
				for _, e := range exp {
					spec, err := substitute(e, local)
					if err != nil {
						return err
					}
					if err := check(result, spec.(obj), stepDigests); err != nil {
						return err
					}
				}
			}
			if g, ok := step["generate"].(obj); ok {
				if name, ok := g["digest"].(string); ok {
					d, err := generatedDigest(g)
					if err != nil {
						return err
					}
					stepDigests[name] = d
				}
			}
			for k, v := range captured {
				env[k] = v
			}
			for k, v := range stepDigests {
				digests[k] = v
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		var cf *checkFailed
		if !errors.As(err, &cf) || expectErr != "" || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// codeName turns grpc-go's "InvalidArgument" into "INVALID_ARGUMENT".
func codeName(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func runScenarios(o *options) (map[string]string, map[string]string, []string, error) {
	raw, err := os.ReadFile(o.scenarios)
	if err != nil {
		return nil, nil, nil, err
	}
	var doc struct {
		Scenarios []obj `json:"scenarios"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, nil, err
	}
	results := map[string]string{}
	var order []string
	digests := map[string]string{}
	conns := map[string]*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for _, sc := range doc.Scenarios {
		name, _ := sc["name"].(string)
		if len(o.only) > 0 && !slices.Contains(o.only, name) {
			continue
		}
		order = append(order, name)
		err := func() error {
			kind, _ := sc["target"].(string)
			target := o.target
			if kind == "auth" {
				target = o.authTarget
			}
			if kind == "" {
				kind = "default"
			}
			if target == "" {
				return failf("scenario needs the %s target (--auth-target)", kind)
			}
			conn, ok := conns[target]
			if !ok {
				var err error
				conn, err = grpc.NewClient(target,
					grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
				if err != nil {
					return failf("dial %s: %v", target, err)
				}
				conns[target] = conn
			}
			env := map[string]any{"RUN": o.run}
			steps, _ := sc["steps"].([]any)
			for i, s := range steps {
				step, _ := s.(obj)
				label := fmt.Sprintf("step %d %v", i+1, step["rpc"])
				if n, ok := step["name"].(string); ok {
					label += " (" + n + ")"
				}
				if err := runStep(step, conn, o, env, digests); err != nil {
					return failf("%s: %v", label, err)
				}
			}
			return nil
		}()
		if err != nil {
			results[name] = err.Error()
			fmt.Printf("FAIL %s: %s\n", name, err)
		} else {
			results[name] = "PASS"
			fmt.Printf("PASS %s\n", name)
		}
	}
	return results, digests, order, nil
}

func defaultScenarios() string {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", "tests", "conformance", "scenarios.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("..", "..", "tests", "conformance", "scenarios.json")
}

func main() {
	o := &options{}
	var only string
	flag.StringVar(&o.target, "target", "", "host:port of the bridge")
	flag.StringVar(&o.authTarget, "auth-target", os.Getenv("NEURAL_HEATMAP_AUTH_TARGET"), "host:port of a bridge that requires a token")
	flag.StringVar(&o.token, "token", os.Getenv("NEURAL_HEATMAP_TOKEN"), "bearer token for the auth target")
	flag.StringVar(&o.run, "run", "go", "prefix of every model id (keeps runs apart)")
	flag.StringVar(&o.scenarios, "scenarios", defaultScenarios(), "scenario file")
	flag.StringVar(&only, "only", "", "comma list of scenario names")
	flag.StringVar(&o.out, "out", "", "write results and digests as JSON here")
	flag.Parse()
	if o.target == "" {
		fmt.Fprintln(os.Stderr, "--target host:port is required")
		os.Exit(2)
	}
	for _, s := range strings.Split(only, ",") {
		if s != "" {
			o.only = append(o.only, s)
		}
	}
	results, digests, order, err := runScenarios(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := 0
	for _, n := range order {
		if results[n] != "PASS" {
			failed++
		}
	}
	fmt.Printf("%d passed, %d failed\n", len(order)-failed, failed)
	if o.out != "" {
		b, _ := json.MarshalIndent(obj{"language": "go", "run": o.run, "results": results, "digests": digests}, "", "  ")
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

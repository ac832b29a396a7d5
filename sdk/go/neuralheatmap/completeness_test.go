package neuralheatmap

import (
	"context"
	"reflect"
	"strings"
	"testing"

	nhv1 "github.com/neural-heatmap/neural-heatmap/sdk/go/gen/neural_heatmap/v1"
)

// goMethodName is the Client method of an RPC: its name without "Get" (Go getters drop it).
func goMethodName(rpc string) string { return strings.TrimPrefix(rpc, "Get") }

// Every RPC of the service, read from the generated descriptor, has a hand-written method
// on *Client taking a context.Context first: a new RPC fails this test until it has one.
func TestEveryRPCHasAHandWrittenMethod(t *testing.T) {
	svc := nhv1.File_neural_heatmap_v1_neural_heatmap_service_proto.Services().ByName("NeuralHeatmapService")
	if svc == nil {
		t.Fatal("no NeuralHeatmapService in the generated descriptor")
	}
	client := reflect.TypeOf(&Client{})
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	methods := svc.Methods()
	if methods.Len() < 22 {
		t.Fatalf("the descriptor lists only %d RPCs", methods.Len())
	}
	for i := range methods.Len() {
		rpc := string(methods.Get(i).Name())
		m, ok := client.MethodByName(goMethodName(rpc))
		if !ok {
			t.Errorf("RPC %s has no method Client.%s", rpc, goMethodName(rpc))
			continue
		}
		if m.Type.NumIn() < 2 || m.Type.In(1) != ctxType {
			t.Errorf("Client.%s does not take a context.Context first", m.Name)
		}
	}
}

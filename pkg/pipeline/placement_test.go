package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/internal/testenv"
)

// TestSetupSaysWhyItCannotPlaceReplicas: a topology of 3 replicas against a
// server that is not clustered fails with what to change.
func TestSetupSaysWhyItCannotPlaceReplicas(t *testing.T) {
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	topo := DefaultTopology()
	topo.Replicas = 3
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Setup(c, js, topo)
	if err == nil || !strings.Contains(err.Error(), "replicas 3 needs a JetStream cluster") || !strings.Contains(err.Error(), "set streams.replicas to 1") {
		t.Fatalf("Setup = %v; want the reason and what to change", err)
	}
}

func TestPlacementHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not clustered", &jetstream.APIError{Code: 500, ErrorCode: 10074}, "set streams.replicas to 1"},
		{"too few peers", fmt.Errorf("wrapped: %w", &jetstream.APIError{Code: 400, ErrorCode: 10005}), "start the ones that are down"},
		{"other API error", &jetstream.APIError{Code: 400, ErrorCode: 10058}, ""},
		{"not an API error", errors.New("timeout"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := placementHint(tc.err, 3)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("placementHint = %q, want one saying %q", got, tc.want)
			}
		})
	}
}

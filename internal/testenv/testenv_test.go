package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestNATSRestartKeepsState(t *testing.T) {
	n := StartNATS(t)
	_, js := n.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	n.Restart(t)
	var info *jetstream.StreamInfo
	for {
		s, err := js.Stream(ctx, "T")
		if err == nil {
			info, err = s.Info(ctx)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stream after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages after restart, want 1", info.State.Msgs)
	}
}

// TestClusterFailover: a stream at three replicas keeps its messages and
// takes new ones after its leader is killed; the killed node rejoins on the
// same ports and store.
func TestClusterFailover(t *testing.T) {
	c := StartCluster(t, 3)
	_, js := c.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	leader, err := c.StreamLeader(ctx, js, "T")
	if err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	if leader.Running() {
		t.Fatal("the killed node still runs")
	}
	for {
		next, err := c.StreamLeader(ctx, js, "T")
		if err != nil {
			t.Fatal(err)
		}
		if next != leader {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(pctx, "t.y", []byte("2"), jetstream.WithMsgID("y"))
		pcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publish after failover: %v", err)
		}
	}
	leader.Start(t)
	c.WaitHealthy(t)
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 || len(info.Cluster.Replicas) != 2 {
		t.Errorf("after failover: %d messages, %d followers; want 2 and 2", info.State.Msgs, len(info.Cluster.Replicas))
	}
}

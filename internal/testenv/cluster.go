package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of nats-server processes on loopback, for
// failover tests: any node can be killed and started again on the same
// ports and store directory while the others keep serving.
type Cluster struct {
	// Name is the cluster name every node is started with.
	Name string
	// Nodes are the servers; Nodes[i].Name is their server name.
	Nodes []*NATS
}

// StartCluster starts n nats-server processes with JetStream, routed to each
// other on free loopback ports, each with its own store directory, and waits
// until every node answers JetStream requests (a meta leader is elected) and
// a stream with a replica on every node can be placed.
func StartCluster(t T, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("testenv: a cluster needs at least one node, not %d", n)
	}
	bin := Binary(t, "nats-server")
	dir := t.TempDir()
	c := &Cluster{Name: "printreg-test-" + RandomSecret(3)}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		c.Nodes = make([]*NATS, n)
		routes := make([]string, n)
		for i := range n {
			nd := &NATS{
				Name:        fmt.Sprintf("node-%d", i),
				Port:        FreePort(t),
				ClusterPort: FreePort(t),
				MonitorPort: FreePort(t),
				StoreDir:    filepath.Join(dir, fmt.Sprintf("node-%d", i), "jetstream"),
			}
			nd.URL = "nats://127.0.0.1:" + strconv.Itoa(nd.Port)
			routes[i] = "nats://127.0.0.1:" + strconv.Itoa(nd.ClusterPort)
			c.Nodes[i] = nd
		}
		for i, nd := range c.Nodes {
			var others []string
			for j, r := range routes {
				if j != i {
					others = append(others, r)
				}
			}
			home := filepath.Join(dir, nd.Name)
			if err = os.MkdirAll(home, 0o700); err != nil {
				t.Fatalf("testenv: %v", err)
			}
			args := []string{
				"-a", "127.0.0.1", "-p", strconv.Itoa(nd.Port), "-m", strconv.Itoa(nd.MonitorPort),
				"-js", "-sd", nd.StoreDir, "-n", nd.Name,
				"--cluster_name", c.Name, "--cluster", routes[i],
			}
			if len(others) > 0 {
				args = append(args, "--routes", strings.Join(others, ","))
			}
			nd.p = &proc{t: t, name: "nats-server " + nd.Name, bin: bin, log: filepath.Join(home, "nats-server.log"),
				args: args, env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}}
		}
		err = c.start()
		if err == nil {
			break
		}
		for _, nd := range c.Nodes {
			nd.p.stop(syscall.SIGKILL, time.Second)
		}
	}
	if err != nil {
		var tails []string
		for _, nd := range c.Nodes {
			tails = append(tails, nd.Name+":\n"+nd.p.tail(20))
		}
		t.Fatalf("testenv: nats cluster did not start: %v\n%s", err, strings.Join(tails, "\n"))
	}
	for _, nd := range c.Nodes {
		t.Cleanup(nd.p.cleanup)
	}
	return c
}

// start starts every node, then waits for all of them together: none is
// ready before a quorum has formed.
func (c *Cluster) start() error {
	for _, nd := range c.Nodes {
		if err := nd.p.start(); err != nil {
			return err
		}
	}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, nd := range c.Nodes {
		wg.Go(func() { errs[i] = nd.waitReady() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.waitPlacement()
}

// waitPlacement waits until the cluster places a stream on every node: a
// node answers JetStream requests once a meta leader is elected, but the
// leader may not yet count every peer, and a stream of as many replicas as
// nodes is then refused ("no suitable peers for placement"). A probe
// stream is created and deleted.
func (c *Cluster) waitPlacement() error {
	if len(c.Nodes) < 2 {
		return nil
	}
	nc, err := nats.Connect(c.URL(), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{Name: "TESTENV_PLACEMENT", Subjects: []string{"testenv.placement"},
		Storage: jetstream.MemoryStorage, Replicas: len(c.Nodes)}
	deadline := time.Now().Add(startTimeout)
	var last error
	for created := false; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if !created {
			_, last = js.CreateOrUpdateStream(ctx, cfg)
			created = last == nil
		}
		if created {
			last = js.DeleteStream(ctx, cfg.Name)
			if errors.Is(last, jetstream.ErrStreamNotFound) {
				last = nil
			}
		}
		cancel()
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("a stream of %d replicas was not placed: %w", len(c.Nodes), last)
}

// URL is every node's client URL, comma-separated (nats.Connect takes it
// as a server list).
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		urls[i] = nd.URL
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connection to the cluster (any node, reconnecting
// to the others), closed on test cleanup.
func (c *Cluster) Connect(t T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatalf("testenv: connect to the nats cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Node returns the node with server name name (nil when there is none).
func (c *Cluster) Node(name string) *NATS {
	for _, nd := range c.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// StreamLeader returns the node leading stream (a KV bucket's stream is
// KV_<bucket>), asking until ctx ends while the stream has no leader.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (*NATS, error) {
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(actx, stream)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(actx)
		}
		cancel()
		switch {
		case err != nil:
			last = err
		case info.Cluster == nil || info.Cluster.Leader == "":
			last = errors.New("no leader")
		default:
			if nd := c.Node(info.Cluster.Leader); nd != nil {
				return nd, nil
			}
			return nil, fmt.Errorf("stream %s is led by %q, not a node of this cluster", stream, info.Cluster.Leader)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("leader of stream %s: %w (last: %v)", stream, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitHealthy waits until every running node reports healthy on its
// monitoring endpoint (/healthz: JetStream enabled and every stream and
// consumer it holds a replica of caught up), so that a test kills the
// next node only once the cluster has recovered from the last one.
func (c *Cluster) WaitHealthy(t T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for _, nd := range c.Nodes {
		if nd.p.exited() {
			continue
		}
		var last error
		for {
			last = nd.healthz(client)
			if last == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: nats node %s not healthy after %s: %v", nd.Name, startTimeout, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (n *NATS) healthz(client *http.Client) error {
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(n.MonitorPort) + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Running reports whether the server process is running.
func (n *NATS) Running() bool { return !n.p.exited() }

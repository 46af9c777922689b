package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Environment of the worker subprocess the crash tests start by running the
// test binary again.
const (
	envChild     = "PRINTREG_TEST_CHILD"
	envHoldSlow  = "PRINTREG_TEST_HOLD_SLOW"
	envStartFile = "PRINTREG_TEST_STARTED_FILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "worker":
		os.Exit(childWorker())
	case "cluster-worker":
		os.Exit(clusterChild())
	}
	os.Exit(m.Run())
}

// childWorker runs a worker with the fake processor until SIGTERM (or
// SIGKILL from the test). With envHoldSlow set, an object whose key holds
// "slow" blocks forever after envStartFile is created.
func childWorker() int {
	log := zerolog.New(os.Stderr).With().Timestamp().Str("process", "child").Logger()
	fail := func(err error) int { log.Error().Err(err).Msg("child worker"); return 1 }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := testenv.ConnectServers()
	if err != nil {
		return fail(err)
	}
	defer srv.NC.Close()
	key, err := sitekey.New([]byte(testSecret))
	if err != nil {
		return fail(err)
	}
	proc := newFakeProc(key)
	if os.Getenv(envHoldSlow) != "" {
		proc.hold = make(chan struct{}) // never released
		go func() {
			<-proc.started
			if f := os.Getenv(envStartFile); f != "" {
				_ = os.WriteFile(f, []byte("started\n"), 0o600)
			}
		}()
	}
	w, err := pipeline.NewWorker(ctx, pipeline.Deps{
		Conn: srv.NC, JS: srv.JS, Topology: testTopology(),
		Raw: map[string]objstore.Bucket{"raw": srv.Raw}, Deid: srv.Deid,
		Processor: proc, Model: fakeModel{}, Key: key, Log: log,
	}, testWorkerConfig())
	if err != nil {
		return fail(err)
	}
	if err := w.Run(ctx); err != nil {
		return fail(err)
	}
	fmt.Fprintln(os.Stderr, "child worker stopped")
	return 0
}

package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Environment of the worker subprocess the crash tests start by running the
// test binary again.
const (
	envChild     = "PRINTREG_TEST_CHILD"
	envNATS      = "PRINTREG_TEST_NATS_URL"
	envS3        = "PRINTREG_TEST_S3_ENDPOINT"
	envS3Access  = "PRINTREG_TEST_S3_ACCESS"
	envS3Secret  = "PRINTREG_TEST_S3_SECRET"
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
	nc, err := nats.Connect(os.Getenv(envNATS), nats.MaxReconnects(-1))
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	key, err := sitekey.New([]byte(testSecret))
	if err != nil {
		return fail(err)
	}
	bucket := func(name string) (*s3store.Store, error) {
		return s3store.New(s3store.Config{Endpoint: os.Getenv(envS3), Bucket: name, PathStyle: true,
			AccessKey: os.Getenv(envS3Access), SecretKey: os.Getenv(envS3Secret), MaxRetries: 1})
	}
	raw, err := bucket("raw")
	if err != nil {
		return fail(err)
	}
	deid, err := bucket("deid")
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
		Conn: nc, JS: js, Topology: testTopology(),
		Raw: map[string]objstore.Bucket{"raw": raw}, Deid: deid,
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

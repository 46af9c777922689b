package assemble_test

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
)

// Environment of the worker subprocess the crash test starts by running the
// test binary again.
const (
	envChild     = "PRINTREG_ASSEMBLE_TEST_CHILD"
	envStartFile = "PRINTREG_ASSEMBLE_TEST_STARTED_FILE"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "worker" {
		os.Exit(childWorker())
	}
	os.Exit(m.Run())
}

// holdAfter wraps the assembler: an object whose key holds "slow" is
// processed in full — its de-identified output is stored — and then the
// worker blocks before the case update, after creating the started file.
type holdAfter struct {
	*assemble.Assembler
	started string
}

func (h holdAfter) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	res, err := h.Assembler.Process(ctx, in)
	if err == nil && strings.Contains(in.Ref.Key, "slow") {
		_ = os.WriteFile(h.started, nil, 0o600)
		<-ctx.Done()
		return res, ctx.Err()
	}
	return res, err
}

// childWorker runs a worker with the real domain step until SIGTERM or
// SIGKILL.
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
	key := siteKey(nopTB{})
	topo := testTopology()
	a, cases, err := newAssembler(ctx, srv.JS, topo, key, testConfig(), srv.Deid, log, nil)
	if err != nil {
		return fail(err)
	}
	w, err := pipeline.NewWorker(ctx, pipeline.Deps{
		Conn: srv.NC, JS: srv.JS, Topology: topo, Raw: map[string]objstore.Bucket{"raw": srv.Raw}, Deid: srv.Deid,
		Processor: holdAfter{Assembler: a, started: os.Getenv(envStartFile)}, Model: a.Model(), Cases: cases, Key: key, Log: log,
	}, testWorkerConfig())
	if err != nil {
		return fail(err)
	}
	if err := w.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// nopTB satisfies siteKey's testing.TB outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Fatal(args ...any) { panic(args) }

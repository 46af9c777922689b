package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// TestDeletedFilesLeaveTheirCase: on the embedded default, files deleted
// from the inbox leave their case — a CT slice (the series is counted
// again and the study, amended, becomes stable with the exact count), a
// model and a refused file (object_removed changes) — their de-identified
// copies go too, and a model dropped again comes back.
func TestDeletedFilesLeaveTheirCase(t *testing.T) {
	dir := t.TempDir()
	env := append(embeddedEnv(dir), "PRINTREG_REGISTRY_QUIET_PERIOD=3s", "PRINTREG_RECEIVE_ENABLED=false")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := startBackground(t, ctx, env, "run", "--log-format", "json")
	waitFile(t, filepath.Join(dir, "nats", "nats.url"))
	const ref = "ACC-RETRACT-1"
	inbox := filepath.Join(dir, "inbox", ref)
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(inbox, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const slices = 4
	for i := 1; i <= slices; i++ {
		b, err := testenv.CTSlice{Accession: ref, PatientID: "PID-R", PatientName: "RETRACT^ME", BirthDate: "19700101", StudyDate: "20260301",
			StudyUID: "1.2.826.0.1.3680043.10.999.91", SeriesUID: "1.2.826.0.1.3680043.10.999.91.1", SeriesNumber: 1, Instance: i, ThicknessMM: 1}.Part10()
		if err != nil {
			t.Fatal(err)
		}
		write(fmt.Sprintf("ct%d.dcm", i), b)
	}
	write("model.stl", testenv.TetrahedronSTL())
	write("notes.bin", []byte("neither DICOM nor a model"))

	key, err := sitekey.Load(filepath.Join(dir, "site.secret"))
	if err != nil {
		t.Fatal(err)
	}
	caseID := casemodel.CaseID(key, ref)
	deidFiles := func() (dcm, models int) {
		_ = filepath.WalkDir(filepath.Join(dir, "deid", caseID), func(p string, d os.DirEntry, err error) error {
			switch {
			case err != nil || d.IsDir():
			case strings.HasSuffix(p, ".dcm"):
				dcm++
			case strings.Contains(p, string(filepath.Separator)+"models"+string(filepath.Separator)):
				models++
			}
			return nil
		})
		return dcm, models
	}
	// until waits for the case to reach a state.
	until := func(what string, ok func(s registry.Snapshot) bool) registry.Snapshot {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			code, out, errOut := invoke(t, ctx, env, "case", ref)
			var snap registry.Snapshot
			if code == exitOK && json.Unmarshal([]byte(out), &snap) == nil && ok(snap) {
				return snap
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never reached; last case: exit %d %s %s\n%s", what, code, out, errOut, cmd.stderr)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	stableWith := func(n int) func(s registry.Snapshot) bool {
		return func(s registry.Snapshot) bool {
			return len(s.Studies) == 1 && s.Studies[0].Status == registry.StatusStable && len(s.Studies[0].Series) == 1 &&
				!s.Studies[0].Series[0].Provisional && s.Studies[0].Series[0].InstanceCount == n
		}
	}
	snap := until("all files in the case", func(s registry.Snapshot) bool {
		return stableWith(slices)(s) && len(s.Models) == 1 && len(s.Rejected) == 1
	})
	if dcm, models := deidFiles(); dcm != slices || models != 1 {
		t.Fatalf("%d de-identified slices and %d models stored, want %d and 1", dcm, models, slices)
	}

	// The last slice, the model and the refused file are deleted.
	for _, name := range []string{fmt.Sprintf("ct%d.dcm", slices), "model.stl", "notes.bin"} {
		if err := os.Remove(filepath.Join(inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	snap = until("the deleted files out of the case", func(s registry.Snapshot) bool {
		return stableWith(slices-1)(s) && len(s.Models) == 0 && len(s.Rejected) == 0
	})
	s := snap.Studies[0].Series[0]
	if s.SliceCount != slices-1 || math.Abs(s.ExtentMM-float64(slices-2)) > 1e-6 || len(s.Flags) != 0 || snap.Studies[0].Amendments != 1 {
		t.Errorf("after the deletion: %d slices, extent %v, flags %v, %d amendments", s.SliceCount, s.ExtentMM, s.Flags, snap.Studies[0].Amendments)
	}
	if dcm, models := deidFiles(); dcm != slices-1 || models != 0 {
		t.Errorf("%d de-identified slices and %d models left, want %d and 0", dcm, models, slices-1)
	}
	tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
	code, out, errOut := invoke(t, tctx, env, "tail", "--case", caseID, "--from-start")
	tcancel()
	if n := strings.Count(out, `"kind":"object_removed"`); n != 2 {
		t.Errorf("tail (exit %d): %d object_removed changes, want 2 (model and refused file)\n%s", code, n, errOut)
	}

	// Dropped again, the model comes back.
	write("model.stl", testenv.TetrahedronSTL())
	until("the model dropped again", func(s registry.Snapshot) bool { return len(s.Models) == 1 })

	// A file deleted while ingest is down is found gone at the next start
	// (the inbox keeps the names it saw in <data_dir>/inbox.state).
	time.Sleep(11 * time.Second) // the state is written at most every 10 s
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Fatalf("run exit %d:\n%s", code, cmd.stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "inbox.state")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("inbox state: %v", err)
	}
	if err := os.Remove(filepath.Join(inbox, fmt.Sprintf("ct%d.dcm", slices-1))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cmd = startBackground(t, ctx, env, "run", "--log-format", "json")
	snap = until("the file deleted while down out of the case", stableWith(slices-2))
	if n := snap.Studies[0].Series[0].SliceCount; n != slices-2 {
		t.Errorf("after the deletion while down: %d slices", n)
	}
	cancel()
	if code := <-cmd.done; code != exitOK {
		t.Errorf("run exit %d:\n%s", code, cmd.stderr)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/registry"
)

// TestLongSeriesThroughIngest: two CT series of 6,000 and 20,000 slices,
// an Enhanced CT of 40,000 frames (its frame positions stored in blocks) and one of 1 GiB (2,048 frames of
// 512 × 512), dropped into the embedded default's inbox, become stable
// studies whose series are exact: every instance and frame counted,
// spacing computed from the positions, the extent from first to last, no
// geometry flag — with case snapshots that stay small and the process's
// peak RSS within its memory budget. Before, a 6,000-slice series stopped
// at 4,610 slices with false gaps.
func TestLongSeriesThroughIngest(t *testing.T) {
	type want struct{ instances, slices int }
	sizes := map[string]int{"LONG-SERIES-6K": 6000, "LONG-SERIES-20K": 20000}
	wants := map[string]want{"LONG-SERIES-6K": {6000, 6000}, "LONG-SERIES-20K": {20000, 20000},
		"LONG-MF-40K": {1, 40000}, "BIG-MF-1G": {1, 2048}}
	const thickness = 0.5
	dir := t.TempDir()
	env := append(embeddedEnv(dir), "PRINTREG_REGISTRY_QUIET_PERIOD=10s", "PRINTREG_RECEIVE_ENABLED=false")
	// The worker runs without the race detector: this is a volume test.
	ing := testenv.StartChild(t, "ingest", env, "run", "--log-format", "json", "--log-level", "warn")
	waitFile(t, filepath.Join(dir, "nats", "nats.url"))

	start := time.Now()
	for acc, n := range sizes {
		inbox := filepath.Join(dir, "inbox", acc)
		if err := os.MkdirAll(inbox, 0o750); err != nil {
			t.Fatal(err)
		}
		study := "1.2.826.0.1.3680043.10.999.77." + strconv.Itoa(n)
		for i := 1; i <= n; i++ {
			b, err := testenv.CTSlice{Accession: acc, PatientID: "PID-" + acc, PatientName: "LONG^SERIES", BirthDate: "19600101",
				StudyDate: "20260301", StudyUID: study, SeriesUID: study + ".1",
				SeriesNumber: 1, Instance: i, ThicknessMM: thickness}.Part10()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(inbox, fmt.Sprintf("%05d.dcm", i)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	for acc, mf := range map[string]testenv.EnhancedCT{
		"LONG-MF-40K": {Frames: 40000, Rows: 8, Columns: 8},
		"BIG-MF-1G":   {Frames: 2048, Rows: 512, Columns: 512},
	} {
		inbox := filepath.Join(dir, "inbox", acc)
		if err := os.MkdirAll(inbox, 0o750); err != nil {
			t.Fatal(err)
		}
		study := "1.2.826.0.1.3680043.10.999.78." + strconv.Itoa(mf.Frames)
		mf.Accession, mf.PatientID, mf.PatientName = acc, "PID-"+acc, "MULTI^FRAME"
		mf.StudyUID, mf.SeriesUID, mf.SOPUID, mf.ThicknessMM = study, study+".1", study+".1.1", thickness
		// Written beside the inbox and moved in whole.
		tmp := filepath.Join(dir, acc+".part")
		f, err := os.Create(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mf.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, "mf.dcm")); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for _, acc := range []string{"LONG-SERIES-6K", "LONG-SERIES-20K", "LONG-MF-40K", "BIG-MF-1G"} {
		w := wants[acc]
		n := w.slices
		var snap registry.Snapshot
		var out string
		for {
			code, o, errOut := invoke(t, ctx, env, "case", acc)
			out = o
			if code == exitOK {
				snap = registry.Snapshot{}
				if err := json.Unmarshal([]byte(out), &snap); err != nil {
					t.Fatalf("case printed %q: %v", out, err)
				}
				if len(snap.Studies) == 1 && snap.Studies[0].Status == registry.StatusStable && len(snap.Studies[0].Series) == 1 &&
					!snap.Studies[0].Series[0].Provisional && snap.Studies[0].Series[0].InstanceCount == w.instances {
					break
				}
			}
			select {
			case <-ing.Done():
				t.Fatalf("ingest exited:\n%s", ing.Tail(30))
			case <-ctx.Done():
				t.Fatalf("%d slices: the study never became stable with all; last case: exit %d %.2000s %s\n%s", n, code, out, errOut, ing.Tail(20))
			case <-time.After(2 * time.Second):
			}
		}
		s := snap.Studies[0].Series[0]
		wantExtent := thickness * float64(n-1)
		if s.SliceCount != n || s.InstancesReceived != w.instances || math.Abs(s.SliceSpacingMM-thickness) > 1e-6 ||
			math.Abs(s.ExtentMM-wantExtent) > 1e-6 || len(s.Flags) != 0 || s.SliceThicknessMM != thickness {
			t.Errorf("%d slices: series of %d slices, %d received, spacing %v, extent %v (want %v), thickness %v, flags %v",
				n, s.SliceCount, s.InstancesReceived, s.SliceSpacingMM, s.ExtentMM, wantExtent, s.SliceThicknessMM, s.Flags)
		}
		if snap.Counts.Instances != w.instances {
			t.Errorf("%d slices: case counts %d instances", n, snap.Counts.Instances)
		}
		if len(out) > 16<<10 {
			t.Errorf("the case snapshot of one %d-slice series is %d bytes", n, len(out))
		}
		t.Logf("%s (%d slices): stable and exact %.0f s after the first file was written; snapshot %d bytes", acc, n, time.Since(start).Seconds(), len(out))
	}
	ing.Stop(60 * time.Second)
	peak := ing.PeakRSS()
	t.Logf("ingest run: peak RSS %d MiB", peak>>20)
	if peak > 640<<20 {
		t.Errorf("ingest run peaked at %d MiB (memory budget 256 MiB)", peak>>20)
	}
}

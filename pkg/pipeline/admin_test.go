package pipeline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminHandler(t *testing.T) {
	m := NewMetrics("v1.2.3")
	m.object(OutcomeProcessed, "", "dicom")
	m.object(OutcomeRejected, "malformed", "stl")
	m.observe("total", timeNowMinus())
	failing := false
	h := AdminHandler(m, Check{"nats", func(context.Context) error {
		if failing {
			return errors.New("not connected")
		}
		return nil
	}})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	if r := get("/livez"); r.Code != http.StatusOK {
		t.Errorf("/livez = %d", r.Code)
	}
	if r := get("/readyz"); r.Code != http.StatusOK || !strings.Contains(r.Body.String(), `"ready":true`) {
		t.Errorf("/readyz = %d %s", r.Code, r.Body.String())
	}
	failing = true
	if r := get("/readyz"); r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Body.String(), "not connected") {
		t.Errorf("/readyz failing = %d %s", r.Code, r.Body.String())
	}
	body := get("/metrics").Body.String()
	for _, want := range []string{
		`printreg_ingest_objects_total{outcome="processed",reason="",kind="dicom"} 1`,
		`printreg_ingest_objects_total{outcome="rejected",reason="malformed",kind="stl"} 1`,
		`printreg_ingest_stage_duration_seconds_count{stage="total"} 1`,
		`printreg_build_info{version="v1.2.3"} 1`,
		"# TYPE printreg_ingest_inflight_objects gauge",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func timeNowMinus() (t0 time.Time) { return time.Now().Add(-time.Millisecond) }

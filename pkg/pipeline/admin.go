package pipeline

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check is one readiness condition: Fn returns nil when ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// AdminHandler serves /metrics (Prometheus text format), /livez (the
// process is up) and /readyz (200 when every check passes, else 503; the
// JSON body names each check's state).
func AdminHandler(m *Metrics, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Registry())
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status := map[string]string{}
		ready := true
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				status[c.Name] = err.Error()
				ready = false
			} else {
				status[c.Name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": status})
	})
	return mux
}

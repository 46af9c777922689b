package console

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// auditor writes one line per sign-in and action: to the log (field
// "audit" = the action) and, when configured, to an audit file of JSON
// lines. An entry names who (the console user), from where (the client
// address), what (the action and its outcome) and on what (case ids, DLQ
// entry ids, reason codes, counts) — never an accession number, a
// StudyInstanceUID, an object key or a file name.
type auditor struct {
	log  zerolog.Logger
	mu   sync.Mutex
	file *os.File
}

func newAuditor(log zerolog.Logger, path string) (*auditor, error) {
	a := &auditor{log: log}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		a.file = f
	}
	return a, nil
}

func (a *auditor) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.file != nil {
		a.file.Close()
		a.file = nil
	}
}

// record writes one entry. fields hold only value-free details (see the
// type's comment).
func (a *auditor) record(r *http.Request, who, action, outcome string, fields map[string]string) {
	remote := ""
	if r != nil {
		remote, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	ev := a.log.Info().Str("audit", action).Str("outcome", outcome).Str("user", who).Str("remote", remote)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev = ev.Str(k, fields[k])
	}
	ev.Msg("console " + action)
	if a.file == nil {
		return
	}
	entry := map[string]string{"time": time.Now().UTC().Format(time.RFC3339Nano), "action": action, "outcome": outcome, "user": who, "remote": remote}
	for k, v := range fields {
		entry[k] = v
	}
	b, err := json.Marshal(entry)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.file != nil {
		if _, err := a.file.Write(append(b, '\n')); err != nil {
			a.log.Error().Err(err).Msg("audit file write failed")
		}
	}
}

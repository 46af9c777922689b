package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/objstore"
)

// Inbox watches a directory bucket by polling (no file-system notification
// dependency, and it works on network mounts) and enqueues each file once
// its size and modification time have stayed the same for Stable: a file
// still being copied is not taken.
//
// A file that disappears from the listing after it was enqueued (or that
// was already there when the watcher started, so an earlier run may have
// enqueued it) is enqueued as a removal: the worker retracts it from its
// case. With State set, the names of the files seen are kept in that file,
// so a file deleted while the process was down is found gone at the next
// start; without it, such a file stays in its case.
type Inbox struct {
	// Bucket is the directory (a dirstore.Store).
	Bucket objstore.Bucket
	// Scanner enqueues stable files and removals.
	Scanner *Scanner
	// Poll is the listing interval (default 1s).
	Poll time.Duration
	// Stable is how long a file must stay unchanged (default 2s).
	Stable time.Duration
	// State is the file the watcher keeps the names of the files it has
	// seen in ("" for none). It holds the inbox's own file names: keep it
	// beside the inbox (the data folder), readable by its owner only.
	State string
	Log   zerolog.Logger
}

// stateEvery bounds how often the state file is rewritten.
const stateEvery = 10 * time.Second

type seenFile struct {
	size     int64
	mtime    time.Time
	since    time.Time // when size/mtime were first seen at these values
	enqueued bool
	// handled: a version of the file may have been processed (enqueued
	// once, or present at start), so its disappearance is a removal.
	handled bool
}

// Run polls until ctx ends.
func (in *Inbox) Run(ctx context.Context) error {
	poll, stable := in.Poll, in.Stable
	if poll <= 0 {
		poll = time.Second
	}
	if stable <= 0 {
		stable = 2 * time.Second
	}
	log := in.Log.With().Str("component", "inbox").Logger()
	seen := make(map[string]*seenFile)
	// removed holds files gone from the listing whose removal is not yet
	// enqueued, with when they were found gone.
	removed := make(map[string]time.Time)
	first := true
	known, err := in.loadState()
	if err != nil {
		log.Warn().Err(err).Msg("inbox state unreadable; files deleted while the process was down are not retracted")
	}
	dirty, wrote := false, time.Time{}
	defer func() {
		if dirty {
			in.saveState(seen, log)
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		now := time.Now()
		present := make(map[string]bool, len(seen))
		err := in.Bucket.List(ctx, "", func(oi objstore.ObjectInfo) error {
			present[oi.Key] = true
			delete(removed, oi.Key) // back again: its new version has its own work item
			s, ok := seen[oi.Key]
			if !ok || s.size != oi.Size || !s.mtime.Equal(oi.ModTime) {
				nf := &seenFile{size: oi.Size, mtime: oi.ModTime, since: now, handled: first || (ok && (s.enqueued || s.handled))}
				seen[oi.Key] = nf
				dirty = dirty || (nf.handled && !ok)
				return nil
			}
			if s.enqueued || now.Sub(s.since) < stable {
				return nil
			}
			oi.ETag = "" // have the scanner hash the now-stable content
			if _, err := in.Scanner.EnqueueOne(ctx, in.Bucket, oi, SourceInbox); err != nil {
				log.Warn().Str("object", ObjectID(in.Scanner.key, in.Bucket.Name(), oi.Key)).Err(err).Msg("inbox file not enqueued; retrying")
				return nil
			}
			s.enqueued, dirty = true, true
			return nil
		})
		switch {
		case err != nil && ctx.Err() == nil:
			// An incomplete listing says nothing about what is gone.
			log.Warn().Err(err).Msg("inbox listing failed")
		case err == nil:
			if first {
				// Files seen by an earlier run and gone since.
				for k := range known {
					if !present[k] {
						removed[k] = now
					}
				}
				known = nil
			}
			first = false
			for k, s := range seen {
				if present[k] {
					continue
				}
				if s.enqueued || s.handled {
					removed[k] = now
				}
				delete(seen, k)
				dirty = true
			}
			if dirty && len(removed) == 0 && time.Since(wrote) >= stateEvery {
				// Written once the removals are enqueued: a name leaves
				// the state only after its removal is on its way.
				in.saveState(seen, log)
				dirty, wrote = false, time.Now()
			}
		}
		for k, at := range removed {
			if ctx.Err() != nil {
				break
			}
			if err := in.Scanner.EnqueueRemoval(ctx, in.Bucket, k, at, SourceInbox); err != nil {
				log.Warn().Str("object", ObjectID(in.Scanner.key, in.Bucket.Name(), k)).Err(err).Msg("inbox file removal not enqueued; retrying")
				continue
			}
			delete(removed, k)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// loadState reads the names kept by an earlier run (nil without State).
func (in *Inbox) loadState() (map[string]bool, error) {
	if in.State == "" {
		return nil, nil
	}
	b, err := os.ReadFile(in.State)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	if json.Unmarshal(b, &names) != nil {
		// The error would quote the file, which holds file names.
		return nil, fmt.Errorf("inbox state %s is not a JSON list of names", in.State)
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	return known, nil
}

// saveState writes the names of the files whose deletion would be a
// removal, replacing the file whole (owner-only).
func (in *Inbox) saveState(seen map[string]*seenFile, log zerolog.Logger) {
	if in.State == "" {
		return
	}
	names := make([]string, 0, len(seen))
	for k, s := range seen {
		if s.enqueued || s.handled {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	b, err := json.Marshal(names)
	if err == nil {
		tmp := in.State + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, in.State)
		}
	}
	if err != nil {
		log.Warn().Err(err).Msg("inbox state not saved; files deleted while the process is down may not be retracted")
	}
}

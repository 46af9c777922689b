package pipeline

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/pipeline/objstore"
)

// Inbox watches a directory bucket by polling (no file-system notification
// dependency, and it works on network mounts) and enqueues each file once
// its size and modification time have stayed the same for Stable: a file
// still being copied is not taken.
//
// A file that disappears from the listing after it was enqueued (or that
// was already there when the watcher started, so an earlier run may have
// enqueued it) is enqueued as a removal: the worker retracts it from its
// case. Removals are seen only while the watcher runs: a file deleted while
// the process is down stays in its case.
type Inbox struct {
	// Bucket is the directory (a dirstore.Store).
	Bucket objstore.Bucket
	// Scanner enqueues stable files and removals.
	Scanner *Scanner
	// Poll is the listing interval (default 1s).
	Poll time.Duration
	// Stable is how long a file must stay unchanged (default 2s).
	Stable time.Duration
	Log    zerolog.Logger
}

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
				seen[oi.Key] = &seenFile{size: oi.Size, mtime: oi.ModTime, since: now, handled: first || (ok && (s.enqueued || s.handled))}
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
			s.enqueued = true
			return nil
		})
		switch {
		case err != nil && ctx.Err() == nil:
			// An incomplete listing says nothing about what is gone.
			log.Warn().Err(err).Msg("inbox listing failed")
		case err == nil:
			first = false
			for k, s := range seen {
				if present[k] {
					continue
				}
				if s.enqueued || s.handled {
					removed[k] = now
				}
				delete(seen, k)
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

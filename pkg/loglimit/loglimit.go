// Package loglimit keeps a log readable while a peer misbehaves in a loop:
// one line per key and window, with a count of the lines held back. The
// DICOM C-STORE receiver (package dimse) and the STOW-RS endpoint (package
// stow) use it for rejected associations and failed authentications.
package loglimit

import (
	"sync"
	"time"
)

// Limiter lets one log line through per key and window and counts the
// ones it holds back, so that a peer reconnecting in a loop, or guessing
// tokens, cannot flood the log while the operator still sees how often it
// happened. Keys are chosen by the caller (a peer address and a reason,
// say). Its memory is bounded: when MaxKeys keys are live, lines for a new
// key share one overflow key. The zero value is ready to use.
type Limiter struct {
	// Window is the time between two lines of one key (default 10 s).
	Window time.Duration
	// MaxKeys bounds the keys remembered (default 1024).
	MaxKeys int

	mu        sync.Mutex
	keys      map[string]*logKey
	lastPrune time.Time
	now       func() time.Time
}

type logKey struct {
	next       time.Time
	suppressed uint64
}

// overflowKey collects the lines of new keys while MaxKeys are live.
const overflowKey = "\x00overflow"

// SetClock makes the limiter read the time from now instead of the system
// clock (nil restores it), for tests that step through windows. It may be
// called while the limiter is in use.
func (l *Limiter) SetClock(now func() time.Time) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// Allow reports whether a line for key may be written now and, when it
// may, how many lines for the key were held back since the last one
// written (for a new key while the limiter is full: for every such key).
func (l *Limiter) Allow(key string) (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	window, maxKeys := l.Window, l.MaxKeys
	if window <= 0 {
		window = 10 * time.Second
	}
	if maxKeys <= 0 {
		maxKeys = 1024
	}
	if l.keys == nil {
		l.keys = map[string]*logKey{}
	}
	k := l.keys[key]
	if k == nil && len(l.keys) >= maxKeys {
		// Forget keys whose window is over, with what they held back (at
		// most once a quarter window, so a flood of new keys does not scan
		// every time).
		if now.Sub(l.lastPrune) >= window/4 {
			l.lastPrune = now
			for name, e := range l.keys {
				if !now.Before(e.next) {
					delete(l.keys, name)
				}
			}
		}
		if len(l.keys) >= maxKeys {
			key = overflowKey
			k = l.keys[key]
		}
	}
	if k == nil {
		l.keys[key] = &logKey{next: now.Add(window)}
		return true, 0
	}
	if now.Before(k.next) {
		k.suppressed++
		return false, 0
	}
	suppressed = k.suppressed
	k.suppressed = 0
	k.next = now.Add(window)
	return true, suppressed
}

package dicomx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrBusy is the kind of error returned when the values an object needs in
// memory do not fit in what the process has left now: the object is fine,
// the sender should retry later.
var ErrBusy = errors.New("memory budget in use by other objects")

// Budget is the memory a process lets all the objects it reads at once hold:
// every value a Reader loads (header values, sequences, loaded bulk values)
// is reserved against it through the object's Hold, and returned when the
// object is done. It keeps many workers, associations and requests that each
// stay within their per-object limit from adding up to an out-of-memory kill.
type Budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	max  int64
	used int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget {
	b := &Budget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Max is the budget's size.
func (b *Budget) Max() int64 { return b.max }

// Used is what objects hold now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Hold opens an object's account. A reservation that does not fit waits up
// to wait for other objects to give memory back, then fails with ErrBusy.
// Release the hold when the object is done (its values no longer used).
// A nil Budget gives a nil Hold, which reserves nothing.
func (b *Budget) Hold(wait time.Duration) *Hold {
	if b == nil {
		return nil
	}
	return &Hold{b: b, wait: wait}
}

// Hold is one object's account with a Budget. A nil *Hold reserves nothing.
// It is safe for use by one object's readers one at a time.
type Hold struct {
	b    *Budget
	wait time.Duration
	n    int64
}

// Held is what the object holds now.
func (h *Hold) Held() int64 {
	if h == nil {
		return 0
	}
	return h.n
}

// Reserve takes n more bytes for the object, for memory its door holds
// outside a Reader (a model's mesh tables, say). It waits as a Reader's
// values do; ErrBusy when the budget stays full, ErrTooLarge when n alone
// is more than the whole budget.
func (h *Hold) Reserve(n int64) error { return h.reserve(n) }

// reserve takes n more bytes for the object.
func (h *Hold) reserve(n int64) error {
	if h == nil || n <= 0 {
		return nil
	}
	b := h.b
	if h.n+n > b.max {
		return &FormatError{Kind: ErrTooLarge, Reason: fmt.Sprintf("the object needs more than the process's %d-byte memory budget", b.max)}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		deadline := time.Now().Add(h.wait)
		timer := time.AfterFunc(h.wait, func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
		defer timer.Stop()
		for b.used+n > b.max {
			if !time.Now().Before(deadline) {
				return &FormatError{Kind: ErrBusy, Reason: fmt.Sprintf("the process's %d-byte memory budget is in use by other objects", b.max)}
			}
			b.cond.Wait()
		}
	}
	b.used += n
	h.n += n
	return nil
}

// Release gives back everything the object holds. It may be called more
// than once.
func (h *Hold) Release() {
	if h == nil || h.n == 0 {
		return
	}
	b := h.b
	b.mu.Lock()
	b.used -= h.n
	h.n = 0
	b.cond.Broadcast()
	b.mu.Unlock()
}

type holdKey struct{}

// WithHold returns a context carrying an object's hold, for code that reads
// the object through layers that take a context but no options.
func WithHold(ctx context.Context, h *Hold) context.Context {
	return context.WithValue(ctx, holdKey{}, h)
}

// HoldFrom returns the hold a context carries, or nil.
func HoldFrom(ctx context.Context) *Hold {
	h, _ := ctx.Value(holdKey{}).(*Hold)
	return h
}

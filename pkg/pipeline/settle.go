package pipeline

import (
	"context"
	"time"
)

// Settler is optionally implemented by a Processor whose facts refer to
// records it keeps in stores of its own (one record per instance of a long
// series, say). Before the sweep fires a case's due timer, Settle reads
// what the case's state points to and returns facts to merge first (through
// the CaseModel's Apply, like any object's), so the tick sees exact
// figures. It runs outside the compare-and-set and may do I/O; nil facts:
// nothing to merge. An error leaves the timer due for the next sweep.
type Settler interface {
	Settle(ctx context.Context, caseID string, state []byte, now time.Time) (facts any, err error)
}

// SettleFunc returns the merge to run before the tick of a due case (nil:
// none). It is given the state read just before; see Settler.
type SettleFunc func(ctx context.Context, caseID string, state []byte, now time.Time) (MergeFunc, error)

// SettleWith adapts the processor's Settler, if it has one, to a sweep
// (nil when it has none): the worker's own, or one a tool runs on demand.
func SettleWith(p Processor, m CaseModel) SettleFunc {
	st, ok := p.(Settler)
	if !ok || m == nil {
		return nil
	}
	return func(ctx context.Context, caseID string, state []byte, now time.Time) (MergeFunc, error) {
		facts, err := st.Settle(ctx, caseID, state, now)
		if err != nil || facts == nil {
			return nil, err
		}
		return func(state []byte) (Mutation, error) { return m.Apply(caseID, state, facts, now) }, nil
	}
}

// then runs b on the state a leaves and returns both as one mutation.
func then(state []byte, a MergeFunc, b MergeFunc) (Mutation, error) {
	ma, err := a(state)
	if err != nil {
		return Mutation{}, err
	}
	if ma.State != nil {
		state = ma.State
	}
	mb, err := b(state)
	if err != nil {
		return Mutation{}, err
	}
	if mb.State == nil {
		return ma, nil
	}
	mb.Events = append(ma.Events, mb.Events...)
	return mb, nil
}

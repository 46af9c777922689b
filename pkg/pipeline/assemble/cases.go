package assemble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// Model returns the case model: registry cases stored as the pipeline's
// opaque state, facts as []casemodel.Fact.
func (a *Assembler) Model() pipeline.CaseModel { return caseModel{reg: a.reg, cache: &a.caseCache} }

type caseModel struct {
	reg   *casemodel.Registry
	cache *caseCache // may be nil
}

// caseCache keeps, per case, the decoded case this process last encoded,
// with its encoding. A merge whose stored state is exactly that encoding
// (the usual case: the same process handles the next instance of a study)
// takes the decoded case instead of decoding the state again. An entry is
// taken out while in use, so no two merges share one.
type caseCache struct {
	mu sync.Mutex
	m  map[string]cachedCase
}

type cachedCase struct {
	state []byte
	c     *casemodel.Case
}

// maxCachedCases bounds the cache (the cases being written now, a few per
// worker); when full, an arbitrary entry makes room.
const maxCachedCases = 128

func (cc *caseCache) take(caseID string, state []byte) *casemodel.Case {
	if cc == nil || state == nil {
		return nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[caseID]
	if !ok || !bytes.Equal(e.state, state) {
		return nil
	}
	delete(cc.m, caseID)
	return e.c
}

func (cc *caseCache) put(caseID string, state []byte, c *casemodel.Case) {
	if cc == nil || state == nil || c == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = make(map[string]cachedCase)
	}
	if _, ok := cc.m[caseID]; !ok && len(cc.m) >= maxCachedCases {
		for k := range cc.m { // an arbitrary entry makes room
			delete(cc.m, k)
			break
		}
	}
	cc.m[caseID] = cachedCase{state: state, c: c}
}

// load returns the case a stored state holds.
func (m caseModel) load(caseID string, state []byte) (*casemodel.Case, error) {
	if c := m.cache.take(caseID, state); c != nil {
		return c, nil
	}
	return load(caseID, state)
}

// ErrRetired is returned when facts reach a case that was folded into
// another; the object is retried and then follows the alias.
var ErrRetired = errors.New("the case was merged into another case; retrying through its alias")

func load(caseID string, state []byte) (*casemodel.Case, error) {
	if state == nil {
		return casemodel.NewCase(caseID)
	}
	c, err := casemodel.Decode(state)
	if err != nil {
		return nil, fmt.Errorf("stored case: %w", err)
	}
	return c, nil
}

func (m caseModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	fs, ok := facts.([]casemodel.Fact)
	if !ok {
		return pipeline.Mutation{}, fmt.Errorf("case model: unexpected facts %T", facts)
	}
	c, err := m.load(caseID, state)
	if err != nil {
		return pipeline.Mutation{}, err
	}
	if c.MergedInto() != "" {
		m.cache.put(caseID, state, c)
		return pipeline.Mutation{}, ErrRetired
	}
	var changes []registry.Change
	for _, f := range fs {
		if f == nil {
			continue
		}
		if ch, ok := m.reg.Apply(c, f, now); ok {
			changes = append(changes, ch)
		}
	}
	if len(changes) == 0 {
		m.cache.put(caseID, state, c) // unchanged: still the stored state
	}
	return m.mutation(c, changes)
}

func (m caseModel) Tick(caseID string, state []byte, now time.Time) (pipeline.Mutation, error) {
	if state == nil {
		return pipeline.Mutation{}, nil
	}
	c, err := m.load(caseID, state)
	if err != nil {
		return pipeline.Mutation{}, err
	}
	ch, ok := m.reg.Tick(c, now)
	if !ok {
		m.cache.put(caseID, state, c)
		return pipeline.Mutation{}, nil
	}
	return m.mutation(c, []registry.Change{ch})
}

// mutation encodes a changed case and the events of its changes. Minor
// changes (instance counts of a study still receiving) are stored without
// an event: the study's next event, at the latest study_stable, carries
// the counts, so a 500-slice series is not 500 events.
func (m caseModel) mutation(c *casemodel.Case, changes []registry.Change) (pipeline.Mutation, error) {
	if len(changes) == 0 {
		return pipeline.Mutation{}, nil
	}
	b, err := c.Encode()
	if err != nil {
		return pipeline.Mutation{}, err
	}
	defer m.cache.put(c.ID(), b, c)
	mu := pipeline.Mutation{State: b}
	for i, ch := range changes {
		// Of several changes made at once, only the last one's event
		// carries the snapshot that results; earlier ones are folded into
		// it unless they matter on their own.
		if ch.Minor || i < len(changes)-1 && !ch.ReadyChanged {
			continue
		}
		data, id, err := m.reg.Event(c, ch)
		if err != nil {
			return pipeline.Mutation{}, err
		}
		mu.Events = append(mu.Events, pipeline.Event{ID: id, Data: data})
	}
	if t, ok := m.reg.NextTick(c); ok {
		mu.Timer = t
	}
	return mu, nil
}

// resolve follows a case id's alias pointer, if any.
func (a *Assembler) resolve(ctx context.Context, caseID string) (string, error) {
	if v, ok := a.pointers.Load(caseID); ok {
		return v.(string), nil
	}
	e, err := a.aliases.Get(ctx, caseID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return caseID, nil
	case err != nil:
		return "", fmt.Errorf("case alias: %w", err)
	}
	target := string(e.Value())
	if !registry.IsCaseID(target) {
		return caseID, nil
	}
	a.pointers.Store(caseID, target)
	return target, nil
}

// fold records the study's other case ids as aliases of its case and folds
// any case opened under them (a lab's folder named by StudyInstanceUID)
// into it: the alias is written first, so new facts follow it; the old
// case is then retired, so late facts are refused and retried through the
// alias; finally its content is merged. Every step is idempotent, so a
// crash anywhere is repaired by the object's redelivery.
//
// An alias is folded once per process, even when it has no case yet:
// whatever writes to an alias's case later looks for the pointer after its
// write and folds the case itself (settle), so the study's instances need
// not look again.
func (a *Assembler) fold(ctx context.Context, primary string, others []string) error {
	for _, alias := range others {
		if alias == primary {
			continue
		}
		if _, ok := a.folded.Load(alias); ok {
			continue
		}
		target, err := a.pointTo(ctx, alias, primary)
		if err != nil {
			return err
		}
		if target != primary {
			// The alias already names another study's case (two
			// accessions share one StudyInstanceUID): keep the first.
			a.log.Warn().Str("case_id", primary).Str("alias", alias).Str("alias_of", target).Msg("StudyInstanceUID alias already points to another case; not folding")
			a.folded.Store(alias, true)
			continue
		}
		if err := a.retireAndMerge(ctx, alias, primary); err != nil {
			return err
		}
		a.folded.Store(alias, true)
	}
	return nil
}

// pointTo creates alias → target unless the alias already points somewhere;
// it returns where the alias points.
func (a *Assembler) pointTo(ctx context.Context, alias, target string) (string, error) {
	if v, ok := a.pointers.Load(alias); ok {
		return v.(string), nil
	}
	_, err := a.aliases.Create(ctx, alias, []byte(target))
	if err == nil {
		a.pointers.Store(alias, target)
		return target, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("case alias: %w", err)
	}
	return a.resolve(ctx, alias)
}

// retireAndMerge retires the alias's case, if it has one, into primary and
// merges what it held. The case read by the retiring compare-and-set is the
// one merged, so it is read once.
func (a *Assembler) retireAndMerge(ctx context.Context, alias, primary string) error {
	cs := a.cases
	now := time.Now()
	var src *casemodel.Case
	if _, err := cs.Update(ctx, alias, func(state []byte) (pipeline.Mutation, error) {
		src = nil
		if state == nil {
			return pipeline.Mutation{}, nil
		}
		c, err := load(alias, state)
		if err != nil {
			return pipeline.Mutation{}, err
		}
		src = c
		ch, ok := a.reg.Retire(c, primary, now)
		if !ok {
			return pipeline.Mutation{}, nil // already retired
		}
		return caseModel{reg: a.reg}.mutation(c, []registry.Change{ch})
	}); err != nil {
		return fmt.Errorf("retiring the aliased case: %w", err)
	}
	if src == nil || src.MergedInto() != primary {
		return nil // no case yet, or retired into another case earlier: not ours to merge
	}
	if _, err := cs.Update(ctx, primary, func(state []byte) (pipeline.Mutation, error) {
		dst, err := load(primary, state)
		if err != nil {
			return pipeline.Mutation{}, err
		}
		ch, ok := a.reg.Merge(dst, src, now)
		if !ok {
			return pipeline.Mutation{}, nil
		}
		return caseModel{reg: a.reg}.mutation(dst, []registry.Change{ch})
	}); err != nil {
		return fmt.Errorf("merging the aliased case: %w", err)
	}
	return nil
}

// ErrNoSuchStudy is returned by ResolveStudy for a study the case does not
// list (among its studies, conflicts or resolutions); ErrNoSuchCase for a
// case with no state.
var (
	ErrNoSuchStudy = errors.New("the case lists no such study")
	ErrNoSuchCase  = errors.New("no such case")
)

// ResolveStudy records an operator's decision about one study of a case
// (casemodel.ResolutionFact: exclude it, accept it as the same patient, or
// reset an earlier decision), through the case store, so the case's next
// event says what changed. It reports whether the case changed (false when
// the same or a later decision is already held). The study is the remapped
// StudyInstanceUID the case's events list; an unknown case or study is an
// error, as is a case merged into another (follow its merged_into).
func ResolveStudy(ctx context.Context, cs *pipeline.CaseStore, reg *casemodel.Registry, caseID string, f casemodel.ResolutionFact) (bool, error) {
	if cs == nil || reg == nil {
		return false, errors.New("assemble: a case store and a registry are required")
	}
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	m := caseModel{reg: reg}
	ur, err := cs.Update(ctx, caseID, func(state []byte) (pipeline.Mutation, error) {
		if state == nil {
			return pipeline.Mutation{}, fmt.Errorf("case %s: %w", caseID, ErrNoSuchCase)
		}
		c, err := load(caseID, state)
		if err != nil {
			return pipeline.Mutation{}, err
		}
		if into := c.MergedInto(); into != "" {
			return pipeline.Mutation{}, fmt.Errorf("case %s was merged into case %s: %w", caseID, into, ErrRetired)
		}
		if !listsStudy(reg.Snapshot(c), f.StudyUID) {
			return pipeline.Mutation{}, fmt.Errorf("case %s, study %s: %w", caseID, f.StudyUID, ErrNoSuchStudy)
		}
		return m.Apply(caseID, state, []casemodel.Fact{f}, f.Time)
	})
	if err != nil {
		return false, err
	}
	return ur.Changed, nil
}

func listsStudy(s registry.Snapshot, uid string) bool {
	for _, st := range s.Studies {
		if st.StudyUID == uid {
			return true
		}
	}
	for _, c := range s.Conflicts {
		for _, g := range c.Groups {
			if slices.Contains(g.StudyUIDs, uid) {
				return true
			}
		}
	}
	for _, r := range s.Resolutions {
		if r.StudyUID == uid {
			return true
		}
	}
	return false
}

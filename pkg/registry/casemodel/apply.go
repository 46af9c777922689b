package casemodel

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Registry applies facts to cases under one configuration and site secret.
// It holds no case state and is safe for concurrent use.
type Registry struct {
	cfg      Config
	key      *sitekey.Key
	aead     sealCipher
	tokenKey [32]byte
	// verdicts remembers, per text, what screening it does not owe to a
	// case (see textVerdict), for every case and worker of the process.
	verdicts *verdictCache
}

// New returns a Registry. The configuration is validated; the key is the
// site secret every worker shares.
func New(cfg Config, key *sitekey.Key) (*Registry, error) {
	if key == nil {
		return nil, errors.New("registry: a site key is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("registry: configuration: %w", err)
	}
	aead, err := newAEAD(key.Sum(domainSealK))
	if err != nil {
		return nil, fmt.Errorf("registry: seal key: %w", err)
	}
	return &Registry{cfg: cfg.WithDefaults(), key: key, aead: aead, tokenKey: key.Sum(domainToken), verdicts: newVerdictCache()}, nil
}

// Config returns the effective configuration.
func (r *Registry) Config() Config { return r.cfg }

// Apply merges one fact into c. It returns the change and true when the case
// changed (its version then grew by one), or false when the fact added
// nothing (a duplicate, or an older revision than the one held). now stamps
// the change and stands in for a fact's missing Origin.Time.
//
// Apply never fails: values that cannot be trusted are repaired (ids hashed,
// numbers made finite, lists bounded), and a SidecarFact whose content breaks
// the case.json rules is recorded as a rejected object. Facts for a case
// that was merged into another are refused (false); look up MergedInto.
func (r *Registry) Apply(c *Case, f Fact, now time.Time) (registry.Change, bool) {
	if c == nil || f == nil || c.mergedInto != "" {
		return registry.Change{}, false
	}
	now = now.UTC().Round(0)
	cl := applyCleaner{r: r, t: now}
	var ch registry.Change
	var changed bool
	switch f := f.(type) {
	case IdentityFact:
		ch, changed = registry.Change{Kind: registry.KindIdentity}, r.applyIdentity(c, f, "").changed()
	case *IdentityFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case SeriesFact:
		sf := cleanSeries(cl, f)
		id := r.applyIdentity(c, f.Identity, sf.StudyUID)
		ch, changed = r.applySeries(c, sf, now)
		if !changed && id.changed() {
			ch, changed = registry.Change{Kind: registry.KindIdentity, Minor: true}, true
		}
		if id.changed() && (id.visible || id.patient || r.withholdsMore(c, id.added)) {
			// Identifiers read for the first time release text withheld
			// until then; new aliases are published; a patient identity
			// new to a study may raise a conflict; a new token may
			// withhold text published so far. Tokens that withhold
			// nothing change nothing a consumer sees.
			ch.Minor = false
		}
	case *SeriesFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case SegmentationFact:
		s := cleanSegmentation(cl, f)
		idChanged := r.applyIdentity(c, f.Identity, s.StudyUID).changed()
		ch, changed = r.applyObject(c, &object{ID: s.Origin.ID, Segmentation: &s})
		if !changed && idChanged {
			ch, changed = registry.Change{Kind: registry.KindIdentity}, true
		}
	case *SegmentationFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case ModelFact:
		m := cleanModel(cl, f)
		idChanged := r.applyIdentity(c, f.Identity, m.StudyUID).changed()
		ch, changed = r.applyObject(c, &object{ID: m.Origin.ID, Model: &m})
		if !changed && idChanged {
			ch, changed = registry.Change{Kind: registry.KindIdentity}, true
		}
	case *ModelFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case SidecarFact:
		if issues := checkSidecar(&f.Sidecar, false); len(issues) > 0 {
			rj := cleanRejected(cl, RejectedFact{Origin: f.Origin, Reason: registry.ReasonInvalidSidecar, Issues: SidecarIssues(issues)})
			ch, changed = r.applyObject(c, &object{ID: rj.Origin.ID, Rejected: &rj})
			break
		}
		s := cleanSidecar(cl, f)
		ch, changed = r.applyObject(c, &object{ID: s.Origin.ID, Sidecar: &s})
	case *SidecarFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case RejectedFact:
		rj := cleanRejected(cl, f)
		ch, changed = r.applyObject(c, &object{ID: rj.Origin.ID, Rejected: &rj})
	case *RejectedFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case RemovedFact:
		rm := RemovedFact{Origin: cleanOrigin(cl, f.Origin)}
		ch, changed = r.applyObject(c, &object{ID: rm.Origin.ID, Removed: &rm})
	case *RemovedFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	case ResolutionFact:
		ch, changed = r.applyResolution(c, f, now)
	case *ResolutionFact:
		if f == nil {
			return registry.Change{}, false
		}
		return r.Apply(c, *f, now)
	}
	if !changed {
		return registry.Change{}, false
	}
	return r.commit(c, ch, now), true
}

// commit stamps a change with the next version and the readiness flip.
func (r *Registry) commit(c *Case, ch registry.Change, now time.Time) registry.Change {
	c.version++
	ch.Version = c.version
	ch.At = now
	ready := len(r.missing(c)) == 0
	ch.ReadyChanged = ready != c.ready
	c.ready = ready
	if ch.ReadyChanged {
		ch.Minor = false
	}
	c.last = &storedChange{Change: ch, At: now}
	c.last.Change.At = time.Time{}
	return ch
}

// identityChange is what applying an IdentityFact changed.
type identityChange struct {
	// visible: the case became identified or gained aliases.
	visible bool
	// patient: a study of the case named a patient it had not named.
	patient bool
	// added are the screening tokens the case did not have.
	added []string
}

func (d identityChange) changed() bool { return d.visible || d.patient || len(d.added) > 0 }

// applyIdentity adds the identifiers of f that c lacks (within the caps).
// study is the (cleaned) study the fact's object belongs to, or "" to take
// f.StudyUID.
func (r *Registry) applyIdentity(c *Case, f IdentityFact, study string) identityChange {
	f = cleanIdentity(f)
	var d identityChange
	if study == "" {
		study = r.safeUID(f.StudyUID)
	}
	if f.Patient != "" && study != "" {
		d.patient = addPatient(c, patientSeen{Study: study, Key: f.Patient})
	}
	if f.Checked && !c.identified {
		c.identified, d.visible = true, true
	}
	for _, a := range f.Aliases {
		if a == c.id {
			continue
		}
		if i, found := slices.BinarySearch(c.aliases, a); !found && len(c.aliases) < maxAliases {
			c.aliases = slices.Insert(c.aliases, i, a)
			d.visible = true
		}
	}
	for _, t := range f.Tokens {
		if i, found := slices.BinarySearch(c.tokens, t); !found && len(c.tokens) < maxTokens {
			c.tokens = slices.Insert(c.tokens, i, t)
			d.added = append(d.added, t)
		}
	}
	return d
}

// addPatient adds p to the case's patient identities (within the cap); it
// reports whether p was new.
func addPatient(c *Case, p patientSeen) bool {
	i, found := slices.BinarySearchFunc(c.patients, p, comparePatientSeen)
	if found || len(c.patients) >= maxPatientsSeen {
		return false
	}
	c.patients = slices.Insert(c.patients, i, p)
	return true
}

func validAction(a string) bool {
	return a == registry.ResolveExclude || a == registry.ResolveAccept || a == registry.ResolveReset
}

// applyResolution records an operator's decision about a study unless a
// later one is already held.
func (r *Registry) applyResolution(c *Case, f ResolutionFact, now time.Time) (registry.Change, bool) {
	study := r.safeUID(f.StudyUID)
	if study == "" || !validAction(f.Action) {
		return registry.Change{}, false
	}
	d := decision{Study: study, Action: f.Action, At: f.Time.UTC().Round(0)}
	if f.Time.IsZero() {
		d.At = now
	}
	if !setDecision(c, d) {
		return registry.Change{}, false
	}
	return registry.Change{Kind: registry.KindStudyResolution, StudyUIDs: []string{study}}, true
}

// setDecision keeps d unless a later decision about its study is held (or
// the list is full); it reports whether the case changed.
func setDecision(c *Case, d decision) bool {
	i, found := slices.BinarySearchFunc(c.decisions, d.Study, func(x decision, s string) int { return strings.Compare(x.Study, s) })
	switch {
	case found && compareDecisions(d, c.decisions[i]) <= 0:
		return false
	case found:
		c.decisions[i] = d
	case len(c.decisions) >= maxDecisions:
		return false
	default:
		c.decisions = slices.Insert(c.decisions, i, d)
	}
	return true
}

// instanceDigest is the 48-bit digest of one instance revision.
func instanceDigest(o Origin) uint64 {
	h := sha256.Sum256([]byte(o.ID + "\x00" + o.Version))
	var tmp [8]byte
	copy(tmp[2:], h[:digestBytes])
	return binary.BigEndian.Uint64(tmp[:])
}

func (r *Registry) findStudy(c *Case, uid string, create bool) *study {
	i, found := slices.BinarySearchFunc(c.studies, uid, func(s *study, u string) int { return strings.Compare(s.UID, u) })
	if found {
		return c.studies[i]
	}
	if !create || len(c.studies) >= maxStudies {
		return nil
	}
	s := &study{UID: uid, Status: registry.StatusReceiving}
	c.studies = slices.Insert(c.studies, i, s)
	return s
}

func (r *Registry) applySeries(c *Case, f SeriesFact, now time.Time) (registry.Change, bool) {
	if f.StudyUID == "" || f.SeriesUID == "" {
		return registry.Change{}, false
	}
	// A removed instance, or a series found empty, of a study the case
	// does not hold changes nothing.
	empty := (f.Seq > 0 || f.Settled > 0) && f.InstanceCount == 0
	st := r.findStudy(c, f.StudyUID, !empty)
	if st == nil {
		return registry.Change{}, false
	}
	i, found := slices.BinarySearchFunc(st.Series, f.SeriesUID, func(s *series, u string) int { return strings.Compare(s.UID, u) })
	kind := registry.KindSeriesUpdated
	if !found {
		if empty {
			return registry.Change{}, false
		}
		if len(st.Series) >= maxSeriesPerStudy {
			return registry.Change{}, false
		}
		st.Series = slices.Insert(st.Series, i, &series{UID: f.SeriesUID, Best: f})
		kind = registry.KindSeriesAdded
	}
	se := st.Series[i]
	changed := !found
	if f.Seq > 0 || f.Settled > 0 {
		if f.Settled > se.Best.Settled && f.Settled >= se.Seen && f.InstanceCount == 0 {
			// Every instance was removed (their files deleted): the
			// series leaves the study, and an empty study the case.
			return r.dropSeries(c, st, i, f), true
		}
		return r.applyTracked(st, se, f, kind, changed)
	}
	if compareSeriesFacts(&f, &se.Best) > 0 {
		se.Best = f
		changed = true
	}
	newInstance := false
	if len(se.Instances) < maxInstances {
		newInstance = se.Instances.add(instanceDigest(f.Origin))
	} else if !se.Capped {
		se.Capped, changed = true, true
	}
	t := f.Origin.Time
	if newInstance {
		changed = true
		if st.First.IsZero() || t.Before(st.First) {
			st.First = t
		}
		if t.After(st.Last) {
			st.Last = t
		}
		kind = arrived(st, t, true, kind)
	}
	if !changed {
		return registry.Change{}, false
	}
	ch := registry.Change{Kind: kind, Object: f.Origin.ID, StudyUIDs: []string{st.UID}, SeriesUID: se.UID}
	ch.Minor = kind == registry.KindSeriesUpdated && st.Status == registry.StatusReceiving
	return ch, true
}

// arrived moves a study's phase for an instance arriving at t: a stable
// study is amended when amends (the instance is not covered by what was
// declared stable); it returns the change kind.
func arrived(st *study, t time.Time, amends bool, kind string) string {
	switch st.Status {
	case registry.StatusReceiving:
		st.PhaseStart = st.First
	case registry.StatusStable:
		if amends {
			st.Status = registry.StatusAmended
			st.PhaseStart = t
			st.Amendments++
			kind = registry.KindStudyAmended
		}
	case registry.StatusAmended:
		if t.Before(st.PhaseStart) {
			st.PhaseStart = t
		}
	}
	return kind
}

// dropSeries removes series i of st (and st when it has no other series).
func (r *Registry) dropSeries(c *Case, st *study, i int, f SeriesFact) registry.Change {
	st.Series = slices.Delete(st.Series, i, i+1)
	if len(st.Series) == 0 {
		c.studies = slices.DeleteFunc(c.studies, func(s *study) bool { return s == st })
	}
	return registry.Change{Kind: registry.KindSeriesUpdated, Object: f.Origin.ID, StudyUIDs: []string{st.UID}, SeriesUID: f.SeriesUID}
}

// applyTracked merges a fact of a series recorded one by one (Seq, Settled):
// the state keeps the highest record revision seen instead of one digest
// per instance, so it stays the same size however long the series. An
// instance or a settled summary is a join: max of revisions and times.
func (r *Registry) applyTracked(st *study, se *series, f SeriesFact, kind string, changed bool) (registry.Change, bool) {
	if compareSeriesFacts(&f, &se.Best) > 0 {
		se.Best, changed = f, true
	}
	newRecord := false
	if seq := max(f.Seq, f.Settled); seq > se.Seen {
		se.Seen, changed = seq, true
		newRecord = f.Seq > 0
	}
	t := f.Origin.Time
	if f.Seq > 0 && !t.IsZero() {
		// The study's arrival span and quiet period follow the instances
		// (and deletions), not the moment a summary was computed.
		if st.First.IsZero() || t.Before(st.First) {
			st.First, changed = t, true
		}
		if t.After(st.Last) {
			st.Last, changed = t, true
		}
	}
	if newRecord {
		kind = arrived(st, t, f.Seq > se.Best.Settled, kind)
	}
	if !changed {
		return registry.Change{}, false
	}
	ch := registry.Change{Kind: kind, Object: f.Origin.ID, StudyUIDs: []string{st.UID}, SeriesUID: se.UID}
	ch.Minor = kind == registry.KindSeriesUpdated && st.Status == registry.StatusReceiving && f.Settled == 0
	return ch, true
}

func (r *Registry) applyObject(c *Case, o *object) (registry.Change, bool) {
	i, found := slices.BinarySearchFunc(c.objects, o.ID, func(x *object, id string) int { return strings.Compare(x.ID, id) })
	if found {
		old := c.objects[i]
		if compareObjects(o, old) <= 0 {
			return registry.Change{}, false
		}
		c.objects[i] = o
	} else if o.Removed != nil {
		return registry.Change{}, false // nothing to remove: the case never held it
	} else {
		if len(c.objects) >= maxObjects {
			return registry.Change{}, false
		}
		c.objects = slices.Insert(c.objects, i, o)
	}
	ch := registry.Change{Object: o.ID}
	switch {
	case o.Segmentation != nil:
		ch.Kind = pick(found, registry.KindSegmentationReplaced, registry.KindSegmentationAdded)
		if o.Segmentation.StudyUID != "" {
			ch.StudyUIDs = []string{o.Segmentation.StudyUID}
		}
		ch.SeriesUID = o.Segmentation.SeriesUID
	case o.Model != nil:
		ch.Kind = pick(found, registry.KindModelReplaced, registry.KindModelAdded)
		if o.Model.StudyUID != "" {
			ch.StudyUIDs = []string{o.Model.StudyUID}
		}
		ch.SeriesUID = o.Model.SeriesUID
	case o.Sidecar != nil:
		ch.Kind = pick(found, registry.KindSidecarReplaced, registry.KindSidecarAdded)
	case o.Rejected != nil:
		ch.Kind = registry.KindObjectRejected
		ch.Reason = o.Rejected.Reason
	case o.Removed != nil:
		ch.Kind = registry.KindObjectRemoved
	}
	return ch, true
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// due returns when a receiving or amended study becomes stable: after the
// quiet period since its last instance, or at the hard cap since the phase
// began, whichever comes first.
func (r *Registry) due(s *study) time.Time {
	quiet := s.Last.Add(r.cfg.QuietPeriod)
	hard := s.PhaseStart.Add(r.cfg.HardCap)
	if hard.Before(quiet) {
		return hard
	}
	return quiet
}

// Tick declares stable every study whose quiet period (or hard cap) has run
// out at now, and returns the change (one for all such studies) and true, or
// false when nothing is due. The stable time recorded is the due time, not
// now, so every worker that fires the same tick computes the same state:
// with compare-and-set exactly one of them wins and the rest find nothing due.
func (r *Registry) Tick(c *Case, now time.Time) (registry.Change, bool) {
	if c == nil || c.mergedInto != "" {
		return registry.Change{}, false
	}
	now = now.UTC().Round(0)
	var uids []string
	for _, s := range c.studies {
		if s.Status == registry.StatusStable {
			continue
		}
		if d := r.due(s); !d.After(now) && settled(s) {
			s.Status = registry.StatusStable
			s.StableAt = d
			s.Stabilized++
			uids = append(uids, s.UID)
		}
	}
	if len(uids) == 0 {
		return registry.Change{}, false
	}
	return r.commit(c, registry.Change{Kind: registry.KindStudyStable, StudyUIDs: uids}, now), true
}

// settled reports whether every series of s recorded one by one has a
// summary covering all its records: a study is declared stable only with
// exact summaries.
func settled(s *study) bool {
	for _, se := range s.Series {
		if se.unsettled() {
			return false
		}
	}
	return true
}

// SeriesRef names a series of a case; Seen is the newest record revision
// the case knows of (SeriesFact.Seq); Due is when its study became due to
// be stable.
type SeriesRef struct {
	StudyUID, SeriesUID string
	Seen                uint64
	Due                 time.Time
}

// Unsettled lists the series recorded one by one whose summary does not
// cover all their records, in the studies of c due to become stable at now:
// the producer computes their exact summaries (SeriesFact.Settled) and
// applies them before Tick, which otherwise waits for them.
func (r *Registry) Unsettled(c *Case, now time.Time) []SeriesRef {
	if c == nil || c.mergedInto != "" {
		return nil
	}
	now = now.UTC().Round(0)
	var out []SeriesRef
	for _, s := range c.studies {
		if s.Status == registry.StatusStable || r.due(s).After(now) {
			continue
		}
		for _, se := range s.Series {
			if se.unsettled() {
				out = append(out, SeriesRef{StudyUID: s.UID, SeriesUID: se.UID, Seen: se.Seen, Due: r.due(s)})
			}
		}
	}
	return out
}

// NextTick returns when Tick will next have something to do for c, so the
// pipeline can schedule a timer (or a delayed message) for that moment.
func (r *Registry) NextTick(c *Case) (time.Time, bool) {
	var next time.Time
	for _, s := range c.studies {
		if s.Status == registry.StatusStable {
			continue
		}
		if d := r.due(s); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next, !next.IsZero()
}

// Merge folds everything src knows into dst (a join, like Apply), for when a
// study reveals that two case ids name one case: a model dropped under the
// StudyInstanceUID before the study (whose case is its accession's) arrived.
// Follow it with Retire(src, dst.ID()).
func (r *Registry) Merge(dst, src *Case, now time.Time) (registry.Change, bool) {
	if dst == nil || src == nil || dst.mergedInto != "" || dst.id == src.id {
		return registry.Change{}, false
	}
	now = now.UTC().Round(0)
	changed := r.applyIdentity(dst, IdentityFact{Aliases: append(slices.Clone(src.aliases), src.id), Tokens: src.tokens, Checked: src.identified}, "").changed()
	for _, p := range src.patients {
		if addPatient(dst, p) {
			changed = true
		}
	}
	for _, d := range src.decisions {
		if setDecision(dst, d) {
			changed = true
		}
	}
	for _, s := range src.studies {
		if r.mergeStudy(dst, s, now) {
			changed = true
		}
	}
	for _, o := range src.objects {
		if _, ok := r.applyObject(dst, o); ok {
			changed = true
		}
	}
	if !changed {
		return registry.Change{}, false
	}
	return r.commit(dst, registry.Change{Kind: registry.KindCaseMerged, MergedFrom: src.id}, now), true
}

func (r *Registry) mergeStudy(c *Case, s *study, now time.Time) bool {
	exists := r.findStudy(c, s.UID, false) != nil
	st := r.findStudy(c, s.UID, true)
	if st == nil {
		return false
	}
	if !exists {
		cp := *s
		cp.Series = nil
		for _, se := range s.Series {
			x := *se
			x.Instances = slices.Clone(se.Instances)
			cp.Series = append(cp.Series, &x)
		}
		*st = cp
		return true
	}
	changed, added := false, false
	for _, se := range s.Series {
		i, found := slices.BinarySearchFunc(st.Series, se.UID, func(x *series, u string) int { return strings.Compare(x.UID, u) })
		if !found {
			if len(st.Series) >= maxSeriesPerStudy {
				continue
			}
			x := *se
			x.Instances = slices.Clone(se.Instances)
			st.Series = slices.Insert(st.Series, i, &x)
			changed, added = true, len(x.Instances) > 0 || x.Seen > 0
			continue
		}
		d := st.Series[i]
		if compareSeriesFacts(&se.Best, &d.Best) > 0 {
			d.Best, changed = se.Best, true
		}
		if se.Seen > d.Seen {
			d.Seen, changed = se.Seen, true
			added = added || d.unsettled()
		}
		for _, v := range se.Instances {
			if len(d.Instances) >= maxInstances {
				d.Capped = true
				break
			}
			if d.Instances.add(v) {
				changed, added = true, true
			}
		}
	}
	if s.First.Before(st.First) {
		st.First, changed = s.First, true
	}
	if s.Last.After(st.Last) {
		st.Last, changed = s.Last, true
	}
	switch {
	case st.Status == registry.StatusReceiving:
		st.PhaseStart = st.First
	case st.Status == registry.StatusStable && added:
		st.Status, st.PhaseStart = registry.StatusAmended, now
		st.Amendments++
	}
	return changed
}

// Retire marks c as folded into the case into (after Merge), so its
// subject's last event points consumers there. It returns the change to
// publish on c's subject.
func (r *Registry) Retire(c *Case, into string, now time.Time) (registry.Change, bool) {
	if c == nil || c.mergedInto != "" || !registry.IsCaseID(into) || into == c.id {
		return registry.Change{}, false
	}
	c.mergedInto = into
	return r.commit(c, registry.Change{Kind: registry.KindCaseRetired, MergedInto: into}, now.UTC().Round(0)), true
}

package casemodel

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/registry"
)

// stateFormat versions the stored case state (not the wire format). A state
// written with another format is refused by Decode rather than misread.
const stateFormat = 1

// MaxStateBytes caps an encoded case state accepted by Decode.
const MaxStateBytes = 8 << 20

// Case is the full internal state of one case: everything the registry
// knows, including the parts that are never published (screening token
// hashes, sealed free text, arrival times). Build one with NewCase or Decode;
// change it only through a Registry.
type Case struct {
	id         string
	version    uint64
	mergedInto string
	aliases    []string
	tokens     []string
	identified bool // identifiers were read (see IdentityFact.Checked)
	ready      bool
	studies    []*study      // sorted by UID
	objects    []*object     // sorted by ID
	patients   []patientSeen // sorted by (Study, Key)
	decisions  []decision    // sorted by Study, one per study
	last       *storedChange
}

// patientSeen records that an object of study Study named the patient Key
// (see patientKey). The pairs of a case are a set: conflicts are computed
// from them each time a snapshot is built.
type patientSeen struct {
	Study string `json:"study"`
	Key   string `json:"key"`
}

func comparePatientSeen(a, b patientSeen) int {
	if c := strings.Compare(a.Study, b.Study); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// decision is an operator's latest decision about one study (see
// ResolutionFact).
type decision struct {
	Study  string    `json:"study"`
	Action string    `json:"action"`
	At     time.Time `json:"at"`
}

// compareDecisions orders decisions about one study: the later wins, then
// the action name, so the order is total.
func compareDecisions(a, b decision) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.Action, b.Action)
}

type study struct {
	UID        string    `json:"uid"`
	Status     string    `json:"status"`
	First      time.Time `json:"first"`       // earliest instance arrival
	Last       time.Time `json:"last"`        // latest instance arrival
	PhaseStart time.Time `json:"phase_start"` // receiving: First; amended: earliest late arrival
	StableAt   time.Time `json:"stable_at,omitzero"`
	Stabilized int       `json:"stabilized,omitempty"` // times the study became stable
	Amendments int       `json:"amendments,omitempty"` // times it was amended after stable
	Series     []*series `json:"series"`
}

type series struct {
	UID       string     `json:"uid"`
	Best      SeriesFact `json:"best"`
	Instances digestSet  `json:"instances"`
	Capped    bool       `json:"capped,omitempty"` // more instances than the state keeps
	// Seen is the highest SeriesFact.Seq applied (series recorded one by
	// one); those series keep no digests, so the state stays small
	// whatever their length.
	Seen uint64 `json:"seen,omitempty"`
}

// tracked reports whether the series is recorded one by one (SeriesFact.Seq).
func (se *series) tracked() bool { return se.Seen > 0 || se.Best.Settled > 0 }

// unsettled reports whether a tracked series has records its summary does
// not cover.
func (se *series) unsettled() bool { return se.Seen > se.Best.Settled }

// received is the number of instances the series is known to hold.
func (se *series) received() int {
	if se.tracked() {
		return se.Best.InstanceCount
	}
	return len(se.Instances)
}

// object is one non-series object of the case, at its latest revision.
// Exactly one fact is set.
type object struct {
	ID           string            `json:"id"`
	Segmentation *SegmentationFact `json:"segmentation,omitempty"`
	Model        *ModelFact        `json:"model,omitempty"`
	Sidecar      *SidecarFact      `json:"sidecar,omitempty"`
	Rejected     *RejectedFact     `json:"rejected,omitempty"`
	Removed      *RemovedFact      `json:"removed,omitempty"`
}

func (o *object) origin() Origin {
	switch {
	case o.Segmentation != nil:
		return o.Segmentation.Origin
	case o.Model != nil:
		return o.Model.Origin
	case o.Sidecar != nil:
		return o.Sidecar.Origin
	case o.Rejected != nil:
		return o.Rejected.Origin
	case o.Removed != nil:
		return o.Removed.Origin
	}
	return Origin{}
}

func (o *object) kind() int {
	switch {
	case o.Segmentation != nil:
		return 1
	case o.Model != nil:
		return 2
	case o.Sidecar != nil:
		return 3
	case o.Rejected != nil:
		return 4
	case o.Removed != nil:
		return 5
	}
	return 0
}

func (o *object) count() int {
	n := 0
	for _, set := range []bool{o.Segmentation != nil, o.Model != nil, o.Sidecar != nil, o.Rejected != nil, o.Removed != nil} {
		if set {
			n++
		}
	}
	return n
}

// compareObjects orders revisions of one object: the later origin wins; for
// the same origin the kind and then the encoded fact break the tie, so the
// order is total and merging stays commutative even for inconsistent input.
func compareObjects(a, b *object) int {
	if c := a.origin().compare(b.origin()); c != 0 {
		return c
	}
	if c := a.kind() - b.kind(); c != 0 {
		return c
	}
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Compare(ab, bb)
}

// compareSeriesFacts: the summary settled at the higher revision wins (an
// exact summary beats a provisional one), then the summary covering more
// instances, then the later origin, then the encoded bytes.
func compareSeriesFacts(a, b *SeriesFact) int {
	if a.Settled != b.Settled {
		if a.Settled > b.Settled {
			return 1
		}
		return -1
	}
	if c := a.InstanceCount - b.InstanceCount; c != 0 {
		return c
	}
	if c := a.Origin.compare(b.Origin); c != 0 {
		return c
	}
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Compare(ab, bb)
}

// digestSet is a sorted set of 48-bit instance-revision digests. It is stored
// as one base64 string (8 characters per instance), which keeps a 5000-slice
// study's state around 40 KB.
type digestSet []uint64

const digestBytes = 6

func (d digestSet) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(d)*digestBytes)
	var tmp [8]byte
	for _, v := range d {
		binary.BigEndian.PutUint64(tmp[:], v)
		b = append(b, tmp[8-digestBytes:]...)
	}
	return json.Marshal(base64.RawStdEncoding.EncodeToString(b))
}

func (d *digestSet) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("instances must be a base64 string")
	}
	if len(s) > base64.RawStdEncoding.EncodedLen(maxInstances*digestBytes) {
		return errors.New("instances: more than the state keeps")
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(b)%digestBytes != 0 {
		return errors.New("instances: not a digest list")
	}
	out := make(digestSet, 0, len(b)/digestBytes)
	for i := 0; i < len(b); i += digestBytes {
		var tmp [8]byte
		copy(tmp[8-digestBytes:], b[i:i+digestBytes])
		out = append(out, binary.BigEndian.Uint64(tmp[:]))
	}
	for i := 1; i < len(out); i++ {
		if out[i] <= out[i-1] {
			return errors.New("instances: not sorted")
		}
	}
	*d = out
	return nil
}

// add inserts v; it reports whether v was new.
func (d *digestSet) add(v uint64) bool {
	i, found := slices.BinarySearch(*d, v)
	if found {
		return false
	}
	*d = slices.Insert(*d, i, v)
	return true
}

type storedChange struct {
	registry.Change
	At time.Time `json:"at"`
}

// caseJSON is the stored form of a Case.
type caseJSON struct {
	Format     int           `json:"format"`
	ID         string        `json:"case_id"`
	Version    uint64        `json:"version"`
	MergedInto string        `json:"merged_into,omitempty"`
	Aliases    []string      `json:"aliases,omitempty"`
	Tokens     []string      `json:"screen_tokens,omitempty"`
	Identified bool          `json:"identified,omitempty"`
	Ready      bool          `json:"registry_ready,omitempty"`
	Studies    []*study      `json:"studies,omitempty"`
	Objects    []*object     `json:"objects,omitempty"`
	Patients   []patientSeen `json:"patients,omitempty"`
	Decisions  []decision    `json:"decisions,omitempty"`
	Last       *storedChange `json:"last_change,omitempty"`
}

// NewCase returns an empty case with the given case id (see CaseID).
func NewCase(id string) (*Case, error) {
	if !registry.IsCaseID(id) {
		return nil, errors.New("registry: a case id is 32 lower-case hex characters (see CaseID)")
	}
	return &Case{id: id}, nil
}

// ID returns the case id (the subject of its events).
func (c *Case) ID() string { return c.id }

// Version returns the number of accepted changes; it grows by one with each.
func (c *Case) Version() uint64 { return c.version }

// MergedInto returns the case this one was folded into, or "" (see Retire).
func (c *Case) MergedInto() string { return c.mergedInto }

// Aliases returns the case ids known to name this case (sorted).
func (c *Case) Aliases() []string { return slices.Clone(c.aliases) }

// LastChange returns the latest accepted change, so a worker that finds its
// fact already applied (a redelivery after a crash) can publish the latest
// event again; its id is the same, so JetStream drops it if it was sent.
func (c *Case) LastChange() (registry.Change, bool) {
	if c.last == nil {
		return registry.Change{}, false
	}
	ch := c.last.Change
	ch.At = c.last.At
	return ch, true
}

// Encode returns the stored form of the case. The same state always gives
// the same bytes.
func (c *Case) Encode() ([]byte, error) {
	j := caseJSON{
		Format: stateFormat, ID: c.id, Version: c.version, MergedInto: c.mergedInto,
		Aliases: c.aliases, Tokens: c.tokens, Identified: c.identified, Ready: c.ready, Studies: c.studies, Objects: c.objects,
		Patients: c.patients, Decisions: c.decisions, Last: c.last,
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("registry: encode case: %w", err)
	}
	return b, nil
}

// Decode reads a stored case. It refuses anything Encode could not have
// written (unknown fields, another format, unsorted or unclean values), so a
// decoded case always yields a valid snapshot.
func Decode(b []byte) (*Case, error) {
	if len(b) > MaxStateBytes {
		return nil, fmt.Errorf("registry: decode case: state is larger than %d bytes", MaxStateBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j caseJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("registry: decode case: %w", scrubJSONError(err))
	}
	if dec.More() {
		return nil, errors.New("registry: decode case: trailing data after the state")
	}
	c := &Case{id: j.ID, version: j.Version, mergedInto: j.MergedInto, aliases: j.Aliases, tokens: j.Tokens, identified: j.Identified,
		ready: j.Ready, studies: j.Studies, objects: j.Objects, patients: j.Patients, decisions: j.Decisions, last: j.Last}
	if err := c.check(j.Format); err != nil {
		return nil, fmt.Errorf("registry: decode case: %w", err)
	}
	return c, nil
}

// scrubJSONError keeps encoding/json's description of what went wrong
// without quoting the input.
func scrubJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON (syntax error at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %s has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errors.New("unknown field (state written by a newer printreg?)")
	}
	return errors.New("not a case state")
}

func sortedUnique(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i] <= ss[i-1] {
			return false
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

var changeKinds = []string{registry.KindIdentity, registry.KindSeriesAdded, registry.KindSeriesUpdated, registry.KindStudyAmended, registry.KindStudyStable,
	registry.KindSegmentationAdded, registry.KindSegmentationReplaced, registry.KindModelAdded, registry.KindModelReplaced, registry.KindSidecarAdded,
	registry.KindSidecarReplaced, registry.KindObjectRejected, registry.KindObjectRemoved, registry.KindCaseMerged, registry.KindCaseRetired, registry.KindStudyResolution}

// check verifies the invariants Encode guarantees.
func (c *Case) check(format int) error {
	chk := checkCleaner{}
	switch {
	case format != stateFormat:
		return fmt.Errorf("state format %d is not %d", format, stateFormat)
	case !registry.IsCaseID(c.id):
		return errors.New("case_id is not a case id")
	case c.mergedInto != "" && !registry.IsCaseID(c.mergedInto):
		return errors.New("merged_into is not a case id")
	case len(c.aliases) > maxAliases || !sortedUnique(c.aliases):
		return errors.New("aliases are not a sorted set within bounds")
	case len(c.tokens) > 0 && !c.identified:
		return errors.New("screen_tokens without identified")
	case len(c.tokens) > maxTokens || !sortedUnique(c.tokens):
		return errors.New("screen_tokens are not a sorted set within bounds")
	case len(c.studies) > maxStudies:
		return errors.New("too many studies")
	case len(c.objects) > maxObjects:
		return errors.New("too many objects")
	}
	if id := (IdentityFact{Aliases: c.aliases, Tokens: c.tokens}); !sameJSON(cleanIdentity(id), id) {
		return errors.New("aliases or screen_tokens malformed")
	}
	for i, s := range c.studies {
		if s == nil || !reRemapped.MatchString(s.UID) || (i > 0 && s.UID <= c.studies[i-1].UID) {
			return errors.New("studies are not sorted by a remapped UID")
		}
		if !slices.Contains([]string{registry.StatusReceiving, registry.StatusStable, registry.StatusAmended}, s.Status) ||
			s.Stabilized < 0 || s.Amendments < 0 || len(s.Series) == 0 || len(s.Series) > maxSeriesPerStudy {
			return errors.New("a study has an invalid status, counter or series list")
		}
		for k, se := range s.Series {
			if se == nil || !reRemapped.MatchString(se.UID) || (k > 0 && se.UID <= s.Series[k-1].UID) {
				return errors.New("series are not sorted by a remapped UID")
			}
			if se.Best.SeriesUID != se.UID || se.Best.StudyUID != s.UID || len(se.Instances) > maxInstances {
				return errors.New("a series summary does not belong to its series")
			}
			if !sameJSON(cleanSeries(chk, se.Best), se.Best) {
				return errors.New("a series summary is not in stored form")
			}
		}
	}
	for i, o := range c.objects {
		if o == nil || o.count() != 1 || (i > 0 && o.ID <= c.objects[i-1].ID) || o.origin().ID != o.ID {
			return errors.New("objects are not a sorted list of single facts keyed by their origin")
		}
		var clean any
		switch {
		case o.Segmentation != nil:
			clean = cleanSegmentation(chk, *o.Segmentation)
		case o.Model != nil:
			clean = cleanModel(chk, *o.Model)
		case o.Sidecar != nil:
			if len(checkSidecar(&o.Sidecar.Sidecar, true)) > 0 {
				return errors.New("a stored case.json breaks the case.json rules")
			}
			clean = cleanSidecar(chk, *o.Sidecar)
		case o.Rejected != nil:
			clean = cleanRejected(chk, *o.Rejected)
		case o.Removed != nil:
			clean = RemovedFact{Origin: cleanOrigin(chk, o.Removed.Origin)}
		}
		var orig any
		switch {
		case o.Segmentation != nil:
			orig = *o.Segmentation
		case o.Model != nil:
			orig = *o.Model
		case o.Sidecar != nil:
			orig = *o.Sidecar
		case o.Rejected != nil:
			orig = *o.Rejected
		case o.Removed != nil:
			orig = *o.Removed
		}
		if !sameJSON(clean, orig) {
			return errors.New("an object fact is not in stored form")
		}
	}
	if len(c.patients) > maxPatientsSeen {
		return errors.New("too many patient identities")
	}
	for i, p := range c.patients {
		if !reRemapped.MatchString(p.Study) || !validPatientKey(p.Key) || (i > 0 && comparePatientSeen(c.patients[i-1], p) >= 0) {
			return errors.New("patient identities are not a sorted set of (remapped study, patient key)")
		}
	}
	if len(c.decisions) > maxDecisions {
		return errors.New("too many decisions")
	}
	for i, d := range c.decisions {
		if !reRemapped.MatchString(d.Study) || !validAction(d.Action) || d.At.IsZero() || (i > 0 && d.Study <= c.decisions[i-1].Study) {
			return errors.New("decisions are not a sorted list of one valid decision per remapped study")
		}
	}
	if (c.version == 0) != (c.last == nil) {
		return errors.New("version and last_change disagree")
	}
	if l := c.last; l != nil {
		ok := slices.Contains(changeKinds, l.Kind) && l.Version >= 1 && l.Version <= c.version &&
			(l.Object == "" || validObjectID(l.Object)) &&
			(l.MergedFrom == "" || registry.IsCaseID(l.MergedFrom)) && (l.MergedInto == "" || registry.IsCaseID(l.MergedInto)) &&
			(l.Reason == "" || reReason.MatchString(l.Reason)) &&
			(l.SeriesUID == "" || reRemapped.MatchString(l.SeriesUID)) && len(l.StudyUIDs) <= maxStudies
		for _, u := range l.StudyUIDs {
			ok = ok && reRemapped.MatchString(u)
		}
		if !ok {
			return errors.New("last_change is malformed")
		}
	}
	return nil
}

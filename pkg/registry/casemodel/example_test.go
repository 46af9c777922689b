package casemodel_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// The life of a case in a worker: one Registry per process, a case made
// (or decoded from its stored state), a fact merged into it, the event
// published, and later the study declared stable by Tick.
func Example() {
	key, err := sitekey.New([]byte("an example site secret, not used anywhere else"))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := casemodel.New(casemodel.Config{Source: "urn:printreg:example-site"}, key)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The case a study belongs to is named by its accession number, keyed
	// with the site secret.
	ids := casemodel.Identifiers{AccessionNumber: "ACC-0001", PatientID: "MRN-0001",
		StudyInstanceUID: "1.2.826.0.1.3680043.8.498.1"}
	caseID := casemodel.CaseID(key, ids.AccessionNumber)
	c, err := casemodel.NewCase(caseID)
	if err != nil {
		fmt.Println(err)
		return
	}

	// One CT instance, as the pipeline hands it over (UIDs remapped).
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f := casemodel.SeriesFact{
		Origin:   casemodel.Origin{ID: "2.25.300", Version: "1", Time: now},
		StudyUID: "2.25.100", SeriesUID: "2.25.200", Modality: "CT",
		InstanceCount: 1, SliceCount: 1,
		Identity: r.IdentityFact(ids),
	}
	ch, changed := r.Apply(c, f, now)
	fmt.Println(ch.Kind, ch.Version, changed)

	// Store the state (compare-and-set in a real worker), then publish.
	state, err := c.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	if c, err = casemodel.Decode(state); err != nil {
		fmt.Println(err)
		return
	}
	b, id, err := r.Event(c, ch)
	if err != nil {
		fmt.Println(err)
		return
	}
	var ev registry.CloudEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Type, ev.ID == id, ev.Subject == caseID)
	fmt.Println(ev.Data.Case.Studies[0].Status, ev.Data.Case.RegistryReady)

	// Once the study has been quiet long enough, Tick declares it stable.
	due, ok := r.NextTick(c)
	fmt.Println(ok, due.Sub(now))
	ch, changed = r.Tick(c, due)
	fmt.Println(ch.Kind, ch.Version, changed, registry.EventType(ch.Kind))
	// Output:
	// series_added 1 true
	// org.printreg.case.updated.v1 true true
	// receiving false
	// true 2m0s
	// study_stable 2 true org.printreg.study.stable.v1
}

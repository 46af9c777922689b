package registry_test

import (
	"encoding/json"
	"fmt"

	"github.com/printreg/printreg/pkg/registry"
)

// A registry consumer reads events from the registry stream (subject
// registry.case.<case id>) and decodes each into a CloudEvent; data.case
// is the whole current case, data.change what this event changed.
func ExampleCloudEvent() {
	msg := []byte(`{"specversion":"1.0","id":"5c0f3e0f2b8a4c1d9e7f6a5b4c3d2e1f",
	  "source":"printreg/site-a","type":"org.printreg.study.stable.v1","subject":"9f86d081884c7d65",
	  "time":"2026-11-30T10:15:00Z","datacontenttype":"application/json",
	  "dataschema":"https://raw.githubusercontent.com/printreg/printreg/main/pkg/registry/schema/case-event-data.v1.schema.json",
	  "data":{"case":{"case_id":"9f86d081884c7d65","version":7,"aliases":[],"studies":[],"segmentations":[],
	    "models":[],"rejected":[],"counts":{},"cpt":{},"registry_ready":false,
	    "missing":["model","lab.indication"],"withheld":[]},
	  "change":{"kind":"study_stable","version":7,"study_uids":["2.25.1234"]}}}`)
	var ev registry.CloudEvent
	if err := json.Unmarshal(msg, &ev); err != nil {
		fmt.Println("not an event:", err)
		return
	}
	c := ev.Data.Case
	fmt.Println(ev.Type, ev.Data.Change.Kind)
	fmt.Printf("case %s version %d ready %v missing %v\n", c.CaseID, c.Version, c.RegistryReady, c.Missing)
	// Output:
	// org.printreg.study.stable.v1 study_stable
	// case 9f86d081884c7d65 version 7 ready false missing [model lab.indication]
}

// Events of one case can arrive more than once and, across a stream
// replay or several publishers, out of order: keep the snapshot with the
// highest version per case.
func ExampleSnapshot_latestPerCase() {
	events := []string{
		`{"data":{"case":{"case_id":"a1","version":2,"registry_ready":false}}}`,
		`{"data":{"case":{"case_id":"b2","version":1,"registry_ready":false}}}`,
		`{"data":{"case":{"case_id":"a1","version":4,"registry_ready":true}}}`,
		`{"data":{"case":{"case_id":"a1","version":3,"registry_ready":false}}}`, // late
		`{"data":{"case":{"case_id":"a1","version":4,"registry_ready":true}}}`,  // repeated
	}
	latest := map[string]registry.Snapshot{}
	for _, m := range events {
		var ev registry.CloudEvent
		if err := json.Unmarshal([]byte(m), &ev); err != nil {
			continue
		}
		c := ev.Data.Case
		if cur, ok := latest[c.CaseID]; !ok || c.Version > cur.Version {
			latest[c.CaseID] = c
		}
	}
	for _, id := range []string{"a1", "b2"} {
		fmt.Printf("%s: version %d, ready %v\n", id, latest[id].Version, latest[id].RegistryReady)
	}
	// Output:
	// a1: version 4, ready true
	// b2: version 1, ready false
}

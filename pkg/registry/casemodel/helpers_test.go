package casemodel

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files in ../testdata/golden")

// testdata is the registry's test data, beside the wire format's schemas:
// the golden events a consumer can read and the case.json examples.
const testdata = "../testdata"

const testSecret = "printreg registry test secret, not used anywhere else"

func testKey(tb testing.TB) *sitekey.Key {
	tb.Helper()
	k, err := sitekey.New([]byte(testSecret))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func testRegistry(tb testing.TB, cfg Config) *Registry {
	tb.Helper()
	if cfg.Source == "" {
		cfg.Source = "urn:printreg:test-site"
	}
	r, err := New(cfg, testKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// t0 is the injected clock's origin; tests move it forward explicitly.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// uid makes a remapped-looking UID.
func uid(n int) string { return fmt.Sprintf("2.25.%d", 100000000000+n) }

// Planted identifiers: they must never appear in any event byte.
var planted = Identifiers{
	PatientName:      "Quisling^Wilhelmina^Ottilie",
	PatientID:        "MRN-0077349",
	AccessionNumber:  "ACC2024011733",
	BirthDate:        "19650412",
	OtherPatientIDs:  []string{"NHS 943 476 5919"},
	StudyInstanceUID: "1.2.826.0.1.3680043.8.498.1234567890123",
}

// plantedStrings are the forms of the planted identifiers searched for in
// every output.
var plantedStrings = []string{"quisling", "wilhelmina", "ottilie", "0077349", "77349", "acc2024011733",
	"2024011733", "19650412", "1965-04-12", "9434765919", "943 476 5919", "1.2.826.0.1.3680043.8.498"}

func assertNoPlanted(tb testing.TB, what string, b []byte) {
	tb.Helper()
	low := bytes.ToLower(b)
	for _, p := range plantedStrings {
		if bytes.Contains(low, []byte(p)) {
			tb.Errorf("%s contains a planted identifier form %q", what, p)
		}
	}
}

var (
	schemaOnce   sync.Once
	eventSchema  *jsonschema.Schema
	sidecarSchma *jsonschema.Schema
	schemaErr    error
)

// strict adds additionalProperties:false to every object schema (type
// object) that lists properties and says nothing about extra ones, so the tests catch a field
// the schema does not document. The published schema stays open for
// forward compatibility.
func strict(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"]; ok && x["type"] == "object" {
			if _, set := x["additionalProperties"]; !set {
				x["additionalProperties"] = false
			}
		}
		for _, c := range x {
			strict(c)
		}
	case []any:
		for _, c := range x {
			strict(c)
		}
	}
}

func compileSchemas() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range []struct{ file, id string }{{registry.EventDataSchemaFile, registry.EventDataSchemaID}, {registry.SidecarSchemaFile, registry.SidecarSchemaID}} {
		b, err := registry.Schemas.ReadFile(f.file)
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			schemaErr = err
			return
		}
		if m, ok := doc.(map[string]any); !ok || m["$id"] != f.id {
			schemaErr = fmt.Errorf("%s: $id is not %s", f.file, f.id)
			return
		}
		strict(doc)
		if err := c.AddResource(f.id, doc); err != nil {
			schemaErr = err
			return
		}
	}
	if eventSchema, schemaErr = c.Compile(registry.EventDataSchemaID); schemaErr != nil {
		return
	}
	sidecarSchma, schemaErr = c.Compile(registry.SidecarSchemaID)
}

func schemas(tb testing.TB) (event, sidecar *jsonschema.Schema) {
	tb.Helper()
	schemaOnce.Do(compileSchemas)
	if schemaErr != nil {
		tb.Fatalf("compile schemas: %v", schemaErr)
	}
	return eventSchema, sidecarSchma
}

// validateEvent checks the envelope and validates data against the schema.
func validateEvent(tb testing.TB, b []byte, id string) {
	tb.Helper()
	ev, _ := schemas(tb)
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		tb.Fatalf("event is not JSON: %v", err)
	}
	for _, k := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"} {
		if _, ok := env[k]; !ok {
			tb.Errorf("event lacks %s", k)
		}
	}
	if env["specversion"] != "1.0" || env["id"] != id || env["datacontenttype"] != "application/json" {
		tb.Errorf("envelope: specversion %v id %v (want %s) datacontenttype %v", env["specversion"], env["id"], id, env["datacontenttype"])
	}
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(env["time"])); err != nil {
		tb.Errorf("time is not RFC 3339: %v", err)
	}
	if !strings.HasPrefix(fmt.Sprint(env["type"]), "org.printreg.") || !strings.HasSuffix(fmt.Sprint(env["type"]), ".v1") {
		tb.Errorf("type %v", env["type"])
	}
	data, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustJSON(tb, env["data"])))
	if err != nil {
		tb.Fatal(err)
	}
	if err := ev.Validate(data); err != nil {
		tb.Errorf("event data does not validate against the schema: %v", err)
	}
	sub := data.(map[string]any)["case"].(map[string]any)["case_id"]
	if env["subject"] != sub {
		tb.Errorf("subject %v is not case_id %v", env["subject"], sub)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustUnmarshalAny(tb testing.TB, b []byte) any {
	tb.Helper()
	clean, ok := stripComments(b)
	if !ok {
		tb.Fatal("unterminated comment")
	}
	v, err := unmarshalAny(clean)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func unmarshalAny(b []byte) (any, error) { return jsonschema.UnmarshalJSON(bytes.NewReader(b)) }

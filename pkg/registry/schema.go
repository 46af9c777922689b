package registry

import "embed"

// The JSON Schemas (draft 2020-12) of the wire format and of case.json.
// They are embedded so tests, tools and consumers written in Go use the
// exact files in the repository.
//
//go:embed schema/*.json
var Schemas embed.FS

// Schema ids; the event's dataschema is EventDataSchemaID.
const (
	EventDataSchemaID = "https://raw.githubusercontent.com/printreg/printreg/main/pkg/registry/schema/case-event-data.v1.schema.json"
	SidecarSchemaID   = "https://raw.githubusercontent.com/printreg/printreg/main/pkg/registry/schema/case.v1.schema.json"
)

// Schema file names inside Schemas.
const (
	EventDataSchemaFile = "schema/case-event-data.v1.schema.json"
	SidecarSchemaFile   = "schema/case.v1.schema.json"
)

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
)

// The interim processor and case model let `ingest run` work end to end
// before the DICOM, de-identification and mesh processors are wired in:
// they identify the object's type from its first bytes, derive the case id
// from the first folder of the key (the case reference a lab drops models
// under), and record per case which objects arrived (hashed ids, type,
// size). They write no de-identified output, so no raw byte ever reaches the
// deid bucket. Their events have type org.printreg.case.objects.v1, distinct
// from the registry's case events.

const interimEventType = "org.printreg.case.objects.v1"

type interimProcessor struct {
	key *sitekey.Key
}

// interimFact is what one object adds to its case.
type interimFact struct {
	Object  string `json:"object"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	Size    int64  `json:"size"`
}

// sniffBytes is how much of an object is read to tell its type.
const sniffBytes = 512

func (p *interimProcessor) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	rc, err := in.Open(ctx)
	if err != nil {
		return pipeline.Result{}, err
	}
	head, err := io.ReadAll(io.LimitReader(rc, sniffBytes))
	rc.Close()
	if err != nil {
		return pipeline.Result{}, err
	}
	kind := sniff(path.Base(in.Ref.Key), head, in.Size)
	caseID := caseOfKey(p.key, in.Ref.Key)
	fact := interimFact{Object: in.ObjectID, Version: p.key.Hex(8, "printreg/interim/version", in.ETag), Kind: kind, Size: in.Size}
	res := pipeline.Result{CaseID: caseID, Facts: fact, Kind: kind}
	if kind == "unknown" {
		fact.Kind = "rejected"
		res.Facts = fact
		return res, pipeline.Permanent(pipeline.ReasonUnsupported, errors.New("not DICOM, STL, 3MF, OBJ or case.json"))
	}
	return res, nil
}

// Reject records an object refused before reading (over size, bad key).
func (p *interimProcessor) Reject(_ context.Context, in pipeline.Input, reason string) (pipeline.Result, error) {
	return pipeline.Result{CaseID: caseOfKey(p.key, in.Ref.Key), Kind: "rejected",
		Facts: interimFact{Object: in.ObjectID, Version: p.key.Hex(8, "printreg/interim/version", in.ETag), Kind: "rejected", Size: in.Size}}, nil
}

// caseOfKey hashes the key's first folder as the case reference; objects at
// the top level belong to no case.
func caseOfKey(k *sitekey.Key, key string) string {
	ref, _, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	return registry.CaseID(k, ref)
}

// sniff names the object's type from its first bytes (the file name only
// for case.json and OBJ, whose content has no magic number).
func sniff(name string, head []byte, size int64) string {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return "dicom"
	case len(head) >= 8 && head[1] == 0 && (head[0] == 0x08 || head[0] == 0x02) && head[2] < 0x20 && head[3] == 0:
		return "dicom" // no preamble: starts with a group 0002/0008 element
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) && strings.HasSuffix(strings.ToLower(name), ".3mf"):
		return "3mf"
	case len(head) >= 84 && int64(binary.LittleEndian.Uint32(head[80:84]))*50+84 == size:
		return "stl"
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("solid")):
		return "stl"
	case strings.EqualFold(name, "case.json"):
		return "sidecar"
	case strings.HasSuffix(strings.ToLower(name), ".obj"):
		return "obj"
	}
	return "unknown"
}

// interimModel keeps the set of objects per case.
type interimModel struct {
	source string
}

type interimState struct {
	Objects []interimFact `json:"objects"`
}

func (m interimModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	f, ok := facts.(interimFact)
	if !ok {
		return pipeline.Mutation{}, fmt.Errorf("interim model: unexpected facts %T", facts)
	}
	var st interimState
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			return pipeline.Mutation{}, fmt.Errorf("interim model: stored state: %w", err)
		}
	}
	if slices.ContainsFunc(st.Objects, func(o interimFact) bool { return o.Object == f.Object && o.Version == f.Version }) {
		return pipeline.Mutation{}, nil
	}
	st.Objects = append(st.Objects, f)
	slices.SortFunc(st.Objects, func(a, b interimFact) int { return strings.Compare(a.Object+a.Version, b.Object+b.Version) })
	b, err := json.Marshal(st)
	if err != nil {
		return pipeline.Mutation{}, err
	}
	h := sha256.Sum256([]byte(caseID + "\x00" + f.Object + "\x00" + f.Version))
	id := hex.EncodeToString(h[:16])
	ev, err := json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          m.source,
		"type":            interimEventType,
		"subject":         caseID,
		"time":            now.UTC().Format(time.RFC3339Nano),
		"datacontenttype": "application/json",
		"data":            map[string]any{"case_id": caseID, "objects": st.Objects, "change": f},
	})
	if err != nil {
		return pipeline.Mutation{}, err
	}
	return pipeline.Mutation{State: b, Events: []pipeline.Event{{ID: id, Data: ev}}}, nil
}

func (interimModel) Tick(string, []byte, time.Time) (pipeline.Mutation, error) {
	return pipeline.Mutation{}, nil
}

package assemble_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// The identifiers planted in every input. None may reach an event, a log
// line, a metric, a de-identified object or its key.
var canaries = map[dicomx.Tag]string{
	dicomx.TagPatientName:            "CANARYSURNAME^CANARYGIVEN",
	dicomx.TagPatientID:              "CNRYMRN4711",
	dicomx.TagAccessionNumber:        "CNRYACC0815",
	dicomx.TagPatientBirthDate:       "19450317",
	dicomx.TagReferringPhysicianName: "CANARYDOC^REFERRER",
	dicomx.TagInstitutionName:        "CANARY MEMORIAL HOSPITAL",
	dicomx.TagOtherPatientIDs:        "CNRYOTHER99",
}

var canaryStrings = []string{"CANARYSURNAME", "CANARYGIVEN", "Canarysurname", "CNRYMRN4711", "CNRYACC0815", "19450317", "CANARYDOC", "CANARY MEMORIAL", "CNRYOTHER99"}

type cloudEvent struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Subject string          `json:"subject"`
	Data    json.RawMessage `json:"data"`
}

func eventSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := registry.Schemas.ReadFile(registry.EventDataSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(registry.EventDataSchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(registry.EventDataSchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streamMessages returns every message of a stream.
func streamMessages(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(ctx(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestEndToEnd: a CT series, a SEG, a case.json and a 3MF for one
// accession — plus a truncated DICOM, a zip-bomb 3MF and an invalid
// case.json — uploaded to MinIO in random order by concurrent clients and
// processed by two workers give a registry-ready case whose events validate
// against the schema, DLQ entries with reasons for the three bad objects,
// and no planted identifier anywhere outside the raw bucket.
func TestEndToEnd(t *testing.T) {
	topo := testTopology()
	n, m, js := startServers(t, topo)
	key := siteKey(t)
	raw, out := minioBuckets(t, m)
	logs := &testenv.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	metrics := pipeline.NewMetrics("test")
	for range 2 {
		startWorker(t, n, topo, key, raw, out, testConfig(), log, metrics)
	}

	objects := map[string][]byte{}
	var rawUIDs []string
	collectUIDs := func(b []byte) {
		obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range []dicomx.Tag{dicomx.TagStudyInstanceUID, dicomx.TagSeriesInstanceUID, dicomx.TagSOPInstanceUID} {
			rawUIDs = append(rawUIDs, obj.Dataset.Str(tg))
		}
	}
	cts, _ := filepath.Glob(repo("testdata/dicom/series_dcmqi_ct-3slice/*.dcm"))
	if len(cts) != 3 {
		t.Fatalf("CT series: %d files", len(cts))
	}
	var firstCT []byte
	for i, p := range cts {
		b := plant(t, readFile(t, p), canaries)
		collectUIDs(b)
		objects[fmt.Sprintf("pacs/CNRYMRN4711/ct-%d.dcm", i)] = b
		if i == 0 {
			firstCT = b
		}
	}
	seg := plant(t, readFile(t, repo("testdata/dicom/seg/dcmqi/partial_overlaps.dcm")), canaries)
	collectUIDs(seg)
	objects["pacs/CNRYMRN4711/seg.dcm"] = seg
	model3mf := readFile(t, repo("pkg/mesh/testdata/3mf/3mf-samples/core_torus.3mf"))
	// The lab's tool wrote the patient's name into the package metadata
	// and the object name.
	objects["CNRYACC0815/CANARYSURNAME kidney.3mf"] = rezip(t, model3mf, func(name string, b []byte) []byte {
		if strings.HasSuffix(name, ".model") {
			b = bytes.Replace(b, []byte("<resources>"), []byte(`<metadata name="Title">CANARYSURNAME CANARYGIVEN kidney</metadata><resources>`), 1)
			b = bytes.Replace(b, []byte(`<object id="1" type="model">`), []byte(`<object id="1" type="model" name="CANARYSURNAME left kidney">`), 1)
		}
		return b
	})
	// An Encapsulated STL of the same accession, from the modelling
	// workstation.
	objects["pacs/CNRYMRN4711/model.dcm"] = plant(t, readFile(t, repo("testdata/deid/canary/CNRY_CNRYFAMILY_stl.dcm")), canaries)
	sidecar := bytes.Replace(readFile(t, repo("config/case.example.jsonc")), []byte("Plan nephron-sparing resection"), []byte("Plan nephron-sparing resection for Canarysurname"), 1)
	objects["CNRYACC0815/case.json"] = sidecar
	// The bad ones.
	pix := bytes.Index(firstCT, []byte{0xe0, 0x7f, 0x10, 0x00})
	if pix < 0 {
		t.Fatal("no pixel data in the CT slice")
	}
	objects["pacs/CNRYMRN4711/truncated.dcm"] = firstCT[:pix+1000]
	objects["CNRYACC0815/bomb.3mf"] = zipBomb(t, model3mf)
	objects["CNRYACC0815/old/case.json"] = []byte(`{"object_type": "toy", "intended_use": "CNRYMRN4711"}`)

	keys := make([]string, 0, len(objects))
	for k := range objects {
		keys = append(keys, k)
	}
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	var wg sync.WaitGroup
	next := make(chan string)
	for range 4 {
		wg.Go(func() {
			for k := range next {
				if _, err := raw.Put(ctx(t), k, bytes.NewReader(objects[k]), int64(len(objects[k])), objstore.PutOptions{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()

	caseID := casemodel.CaseID(key, "CNRYACC0815")
	deadline := time.Now().Add(3 * time.Minute)
	var snap *registry.Snapshot
	for {
		snap = lastCase(t, js, topo, caseID)
		if snap != nil && snap.RegistryReady && len(snap.Rejected) == 3 && len(snap.Models) == 2 && len(snap.Studies) == 1 && snap.Studies[0].Status == "stable" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(snap, "", " ")
			t.Fatalf("the case never became registry-ready with three rejections:\n%s\nlogs:\n%s", b, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The snapshot holds the series, the segments, the model, the lab
	// fields and the CPT suggestion.
	c := snap
	var ct, segSeries string
	for _, st := range c.Studies {
		for _, s := range st.Series {
			if s.Modality == "CT" {
				ct = s.SeriesUID
				if s.SliceCount != 3 || s.InstanceCount != 3 || s.SliceThicknessMM != 1.25 || math.Abs(s.SliceSpacingMM-1.0) > 1e-6 {
					t.Errorf("CT series = %+v, want 3 slices, 1.25 mm thick, 1.0 mm apart", s)
				}
			}
			if s.Modality == "SEG" {
				segSeries = s.SeriesUID
			}
		}
	}
	if ct == "" || !strings.HasPrefix(ct, "2.25.") {
		t.Errorf("no remapped CT series in %+v", c.Studies)
	}
	_ = segSeries
	if len(c.Segmentations) != 1 || len(c.Segmentations[0].Segments) != 5 || !slices.Equal(c.Segmentations[0].ReferencedSeriesUIDs, []string{ct}) {
		t.Errorf("segmentations = %+v, want one SEG of 5 segments referencing the CT series %s", c.Segmentations, ct)
	}
	rep, err := mesh.MeasureBytes(ctx(t), model3mf, mesh.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var torus, encapsulated int
	for _, md := range c.Models {
		switch {
		case md.Format == "3mf" && md.Triangles == rep.Triangles && math.Abs(md.VolumeMM3-rep.VolumeMM3) <= 1e-6*math.Abs(rep.VolumeMM3):
			torus++
		case md.Format == "stl" && md.Container == "dicom" && md.Triangles > 0:
			encapsulated++
		}
	}
	if len(c.Models) != 2 || torus != 1 || encapsulated != 1 {
		t.Errorf("models = %+v, want the torus (%d triangles, %.3f mm³) and the Encapsulated STL", c.Models, rep.Triangles, rep.VolumeMM3)
	}
	if c.Lab == nil || c.Lab.ObjectType != "anatomic_model" || c.Lab.OrderingService != "urology" {
		t.Errorf("lab = %+v", c.Lab)
	}
	if len(c.CPT.Codes) == 0 || c.CPT.Codes[0].Code != "0559T" {
		t.Errorf("CPT = %+v", c.CPT)
	}
	var reasons []string
	for _, r := range c.Rejected {
		reasons = append(reasons, r.Reason)
	}
	slices.Sort(reasons)
	if want := []string{"invalid_sidecar", "malformed", "too_large"}; !slices.Equal(reasons, want) {
		t.Errorf("rejected reasons %v, want %v", reasons, want)
	}

	// Every event validates against the schema.
	schema := eventSchema(t)
	events := streamMessages(t, js, topo.RegistryStream)
	var published bytes.Buffer
	for _, m := range events {
		published.Write(m.Data)
		var ev cloudEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("event: %v", err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ev.Data))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(doc); err != nil {
			t.Errorf("event %s does not validate: %v", ev.ID, err)
		}
		if ev.Subject != caseID || m.Subject != topo.CaseSubject(caseID) {
			t.Errorf("event for another case %s (subject %s)", ev.Subject, m.Subject)
		}
	}

	// DLQ entries with reasons.
	var dlq []string
	for _, m := range streamMessages(t, js, topo.DLQStream) {
		dlq = append(dlq, strings.TrimPrefix(m.Subject, topo.DLQSubject+"."))
	}
	slices.Sort(dlq)
	if want := []string{"invalid_sidecar", "malformed", "too_large"}; !slices.Equal(dlq, want) {
		t.Errorf("DLQ reasons %v, want %v", dlq, want)
	}

	// The de-identified bucket: four DICOM objects under the case, one
	// model, nothing planted.
	var outKeys []string
	var outBytes bytes.Buffer
	if err := out.List(ctx(t), "", func(oi objstore.ObjectInfo) error {
		outKeys = append(outKeys, oi.Key)
		rc, err := out.Get(ctx(t), oi.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			return err
		}
		if strings.HasSuffix(oi.Key, ".dcm") {
			obj, err := dicomx.ReadMeta(bytes.NewReader(b.Bytes()), int64(b.Len()), dicomx.Options{})
			if err != nil {
				t.Errorf("de-identified object does not parse: %v", err)
			} else if obj.Dataset.Str(dicomx.TagPatientIdentityRemoved) != "YES" {
				t.Errorf("de-identified object without PatientIdentityRemoved YES")
			}
		}
		outBytes.Write(b.Bytes())
		if strings.HasSuffix(oi.Key, ".3mf") {
			outBytes.Write(unzipAll(t, b.Bytes()))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(outKeys)
	var dcm, models int
	for _, k := range outKeys {
		if !strings.HasPrefix(k, caseID+"/") {
			t.Errorf("output outside the case: %s", k)
		}
		switch {
		case strings.HasSuffix(k, ".dcm"):
			dcm++
		case strings.HasPrefix(k, caseID+"/models/") && strings.HasSuffix(k, ".3mf"):
			models++
		}
	}
	if dcm != 5 || models != 1 || len(outKeys) != 6 {
		t.Errorf("de-identified bucket holds %v", outKeys)
	}

	var metricsText bytes.Buffer
	rec := httptest.NewRecorder()
	pipeline.AdminHandler(metrics).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metricsText.Write(rec.Body.Bytes())

	places := map[string]string{
		"events": published.String(), "logs": logs.String(), "metrics": metricsText.String(),
		"deid keys": strings.Join(outKeys, "\n"), "deid objects": outBytes.String(),
	}
	needles := append(slices.Clone(canaryStrings), rawUIDs...)
	needles = append(needles, "kidney.3mf", "truncated.dcm", "bomb.3mf", "old/case.json")
	for where, text := range places {
		for _, s := range needles {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s hold the planted identifier %q", where, s)
			}
		}
	}
}

package assemble_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/textnorm"
)

func mustEncode(e encoding.Encoding, s string) string {
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// jis is ISO 2022 IR 87 as DICOM writes it: ESC $ B before kanji, ESC ( B
// before ASCII again.
func jis(s string) string {
	b, err := japanese.ISO2022JP.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestEndToEndCharsets: studies whose patient names are written in Latin-1,
// Cyrillic, GB18030 and ISO 2022 Japanese, with a lab's case.json comment
// and a 3MF object name (UTF-8) naming the patient in another case or
// form. The lab text is withheld as a case identifier, the names appear in
// no event, log line, KV value, de-identified object or key, and the
// registry facts arrive.
func TestEndToEndCharsets(t *testing.T) {
	type study struct {
		terms    []string
		pn       string // encoded PatientName
		desc     string // encoded SeriesDescription naming the patient
		other    string // the name as a lab types it (UTF-8)
		needles  []string
		encoded  []string // encoded forms that must not be in any output
		modelObj string
	}
	studies := map[string]study{
		"LATIN1ACC": {[]string{"ISO_IR 100"}, mustEncode(charmap.ISO8859_1, "GRÜNWALD^GRETE"), mustEncode(charmap.ISO8859_1, "CT Grünwald"),
			"Grünwald", []string{"Grünwald", "GRÜNWALD", "grünwald", "Grunwald", "GRETE"}, []string{mustEncode(charmap.ISO8859_1, "GRÜNWALD"), mustEncode(charmap.ISO8859_1, "Grünwald")}, "Grünwald femur"},
		"CYRILLICACC": {[]string{"ISO_IR 144"}, mustEncode(charmap.ISO8859_5, "ИВАНОВА^МАРИЯ"), mustEncode(charmap.ISO8859_5, "КТ Иванова"),
			"Иванова", []string{"Иванова", "ИВАНОВА", "иванова", "МАРИЯ"}, []string{mustEncode(charmap.ISO8859_5, "ИВАНОВА"), mustEncode(charmap.ISO8859_5, "Иванова")}, "Иванова бедро"},
		"GBACC": {[]string{"GB18030"}, mustEncode(simplifiedchinese.GB18030, "王^伟"), mustEncode(simplifiedchinese.GB18030, "王伟 胸部"),
			"王伟", []string{"王伟", "王^伟"}, []string{mustEncode(simplifiedchinese.GB18030, "王伟"), mustEncode(simplifiedchinese.GB18030, "王^伟")}, "王伟 股骨"},
		"JISACC": {[]string{"", "ISO 2022 IR 87"}, jis("Yamada^Tarou=山田^太郎=やまだ^たろう"), jis("CT 山 田"),
			"山田", []string{"山田", "太郎", "やまだ"}, []string{jis("山田"), jis("太郎")}, "山田 大腿骨"},
	}

	topo := testTopology()
	n, m, js := startServers(t, topo)
	key := siteKey(t)
	raw, out := minioBuckets(t, m)
	logs := &testenv.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	startWorker(t, n, topo, key, raw, out, testConfig(), log, pipeline.NewMetrics("test"))

	cts, _ := filepath.Glob(repo("testdata/dicom/series_dcmqi_ct-3slice/*.dcm"))
	model3mf := readFile(t, repo("pkg/mesh/testdata/3mf/3mf-samples/core_torus.3mf"))
	example := readFile(t, repo("config/case.example.jsonc"))
	for acc, s := range studies {
		for i, p := range cts {
			b := plant(t, readFile(t, p), map[dicomx.Tag]string{
				dicomx.TagSpecificCharacterSet: strings.Join(s.terms, `\`),
				dicomx.TagPatientName:          s.pn,
				dicomx.TagPatientID:            "PID-" + acc,
				dicomx.TagAccessionNumber:      acc,
				dicomx.TagSeriesDescription:    s.desc,
				dicomx.TagStudyInstanceUID:     "1.2.826.0.1.3680043.10.779." + fmt.Sprint(len(acc)) + "." + acc[:2] + "1",
			})
			put(t, raw, fmt.Sprintf("pacs/%s/ct-%d.dcm", acc, i), b)
		}
		put(t, raw, acc+"/case.json", bytes.Replace(example, []byte("Plan nephron-sparing resection"), []byte("Shown to Mr "+s.other+" before surgery"), 1))
		put(t, raw, acc+"/model.3mf", rezip(t, model3mf, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, ".model") {
				b = bytes.Replace(b, []byte(`<object id="1" type="model">`), []byte(`<object id="1" type="model" name="`+s.modelObj+`">`), 1)
			}
			return b
		}))
	}

	deadline := time.Now().Add(3 * time.Minute)
	for acc, s := range studies {
		caseID := casemodel.CaseID(key, acc)
		var snap *registry.Snapshot
		for {
			snap = lastCase(t, js, topo, caseID)
			if snap != nil && snap.Lab != nil && len(snap.Models) == 1 && len(snap.Studies) == 1 && snap.Studies[0].Status == "stable" && len(snap.Studies[0].Series) == 1 && snap.Studies[0].Series[0].SliceCount == 3 {
				break
			}
			if time.Now().After(deadline) {
				b, _ := json.MarshalIndent(snap, "", " ")
				t.Fatalf("%s: the case never arrived whole:\n%s\nlogs:\n%s", acc, b, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		var rules []string
		for _, w := range snap.Withheld {
			if w.Rule == registry.RuleCaseIdentifier {
				rules = append(rules, w.Field)
			}
		}
		slices.Sort(rules)
		if !slices.ContainsFunc(rules, func(f string) bool { return strings.HasPrefix(f, "lab.") }) || !slices.ContainsFunc(rules, func(f string) bool { return strings.HasPrefix(f, "models[") }) {
			t.Errorf("%s (%s): withheld as case identifiers %v, want the lab comment and the model's object name", acc, s.terms, rules)
		}
	}

	// Every place a name could leak to.
	var published bytes.Buffer
	for _, msg := range streamMessages(t, js, topo.RegistryStream) {
		published.Write(msg.Data)
	}
	var kv bytes.Buffer
	for name := range js.KeyValueStoreNames(ctx(t)).Name() {
		b, err := js.KeyValue(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := b.ListKeys(ctx(t))
		for k := range keys.Keys() {
			if e, err := b.Get(ctx(t), k); err == nil {
				kv.WriteString(k + "\n")
				kv.Write(e.Value())
			}
		}
	}
	var outBytes, outText bytes.Buffer
	var outKeys []string
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
		outBytes.Write(b.Bytes())
		switch {
		case strings.HasSuffix(oi.Key, ".3mf"):
			outText.Write(unzipAll(t, b.Bytes()))
		case strings.HasSuffix(oi.Key, ".dcm"):
			rd, err := dicomx.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()), dicomx.Options{})
			if err != nil {
				return err
			}
			ds, err := rd.ReadAll()
			if err != nil {
				return err
			}
			cs := dicomx.CharsetOf(ds, nil)
			for _, el := range ds.Elements {
				if el.VR.IsText() {
					outText.WriteString(el.Text(cs) + "\n")
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"events": published.String(), "logs": logs.String(), "KV values": kv.String(),
		"deid objects": outBytes.String(), "deid text": outText.String(), "deid keys": strings.Join(outKeys, "\n"),
	}
	for acc, s := range studies {
		for where, text := range places {
			folded := textnorm.Fold(text)
			for _, needle := range s.needles {
				if strings.Contains(folded, textnorm.Fold(needle)) {
					t.Errorf("%s: %s hold the name %q", acc, where, needle)
				}
			}
			for _, enc := range s.encoded {
				if strings.Contains(text, enc) {
					t.Errorf("%s: %s hold the name's bytes % x", acc, where, enc)
				}
			}
		}
	}
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if _, err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

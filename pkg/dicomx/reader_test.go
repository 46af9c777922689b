package dicomx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// brokenFiles are corpus files that are damaged on purpose; the reader must
// refuse them with this error kind (dcmtk's dcmdump refuses them too).
var brokenFiles = map[string]error{
	"pydicom/MR_truncated.dcm": ErrMalformed, // pixel data cut short
	"pydicom/no_meta.dcm":      ErrMalformed, // a stray first byte shifts every element
}

func TestReadMetaCorpus(t *testing.T) {
	for _, rel := range corpusFiles(t) {
		t.Run(rel, func(t *testing.T) {
			b := readCorpus(t, rel)
			obj, err := ReadMeta(bytes.NewReader(b), int64(len(b)), Options{})
			if want, broken := brokenFiles[rel]; broken {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
				golden(t, rel+".txt", []byte("error: "+err.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "syntax: %s (implicit=%v big=%v deflated=%v encapsulated=%v) preamble=%v\n",
				obj.Syntax.Name(), obj.Syntax.Implicit, obj.Syntax.BigEndian, obj.Syntax.Deflated, obj.Syntax.Encapsulated, obj.Preamble)
			if obj.PixelData != nil {
				fmt.Fprintf(&buf, "pixel data: %s at byte %d, length %d\n", obj.PixelData.VR, obj.PixelData.Offset, obj.PixelData.Length)
			}
			buf.WriteString("--- meta\n")
			Dump(&buf, obj.Meta)
			buf.WriteString("--- dataset\n")
			Dump(&buf, obj.Dataset)
			golden(t, rel+".txt", buf.Bytes())
		})
	}
}

// roundTrip reads every element of b and writes it back in the same syntax,
// streaming bulk values, as a de-identifier that changes nothing would.
func roundTrip(b []byte) ([]byte, error) {
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)), Options{Limits: Limits{BulkThreshold: 1024}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	syn := rd.Syntax()
	if syn.UID == "" { // no file meta: write one, keeping the encoding
		switch {
		case syn.BigEndian:
			syn = SyntaxFor(ExplicitVRBigEndian)
		case syn.Implicit:
			syn = SyntaxFor(ImplicitVRLittleEndian)
		default:
			syn = SyntaxFor(ExplicitVRLittleEndian)
		}
	}
	w := NewWriter(&out, syn)
	meta := rd.Meta()
	if len(meta.Elements) == 0 {
		meta = &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, syn.UID)}}
	}
	if err := w.WriteFileHeader(nil, meta); err != nil {
		return nil, err
	}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Bulk {
			if err := w.WriteHeader(e.Tag, e.VR, e.Length); err != nil {
				return nil, err
			}
			if _, err := rd.CopyValue(w.Raw()); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.WriteElement(e); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// canonical lists every element at every depth with its value bytes, without
// group lengths and encoded lengths (the writer changes both legitimately).
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var walk func(*Dataset, string)
	walk = func(d *Dataset, ind string) {
		for _, e := range d.Elements {
			if e.Tag.IsGroupLength() {
				continue
			}
			// Odd-length values gain one pad byte on the way out.
			v := bytes.TrimRight(e.Value, " \x00")
			fmt.Fprintf(&sb, "%s%s %s %x\n", ind, e.Tag, e.VR, v)
			for _, it := range e.Items {
				sb.WriteString(ind + " item\n")
				walk(it, ind+"  ")
			}
		}
	}
	walk(ds, "")
	return sb.String()
}

func TestRoundTripCorpus(t *testing.T) {
	dcmdump := ""
	if _, err := exec.LookPath("dcmdump"); err == nil || os.Getenv("PRINTREG_REQUIRE_INTEGRATION") == "1" {
		dcmdump = requireTool(t, "dcmdump")
	}
	dir := t.TempDir()
	for _, rel := range corpusFiles(t) {
		if brokenFiles[rel] != nil {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			in := readCorpus(t, rel)
			out, err := roundTrip(in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canonical(t, out), canonical(t, in); got != want {
				t.Fatalf("round trip changed the dataset")
			}
			if dcmdump != "" {
				p := filepath.Join(dir, strings.ReplaceAll(rel, "/", "_"))
				if err := os.WriteFile(p, out, 0o644); err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd := exec.Command(dcmdump, "-q", p)
				cmd.Stdout, cmd.Stderr = io.Discard, &stderr
				if err := cmd.Run(); err != nil || stderr.Len() > 0 {
					t.Fatalf("dcmdump does not read our output: %v\n%s", err, stderr.Bytes())
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	ok := readCorpus(t, "pydicom/CT_small.dcm")
	explicitHeader := func(tag Tag, vr string, length uint32) []byte {
		b := []byte{byte(tag >> 16), byte(tag >> 24), byte(tag), byte(tag >> 8), vr[0], vr[1]}
		if VR(uint16(vr[0])<<8 | uint16(vr[1])).LongLength() {
			return append(b, 0, 0, byte(length), byte(length>>8), byte(length>>16), byte(length>>24))
		}
		return append(b, byte(length), byte(length>>8))
	}
	meta := func(ts string) []byte {
		var b bytes.Buffer
		w := NewWriter(&b, SyntaxFor(ts))
		w.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, ts)}})
		return b.Bytes()
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		kind error
		msg  string
	}{
		{"empty", nil, ErrNotDICOM, "no DICM"},
		{"text", []byte("hello, this is not a DICOM file at all"), ErrNotDICOM, "no DICM"},
		{"truncated header", ok[:140], ErrMalformed, "truncated"},
		{"truncated in meta value", ok[:200], ErrMalformed, "remain"},
		{"cut in pixel data", ok[:len(ok)-200], ErrMalformed, "remain"},
		{"huge length", cat(meta(ExplicitVRLittleEndian), explicitHeader(TagPatientName, "UT", 0xFFFFFFF0)), ErrMalformed, "claims 4294967280 bytes"},
		{"bad VR", cat(meta(ExplicitVRLittleEndian), []byte{0x10, 0, 0x10, 0, 'Z', 'Z', 2, 0, 'a', 'b'}), ErrMalformed, "invalid value representation"},
		{"item claims more than its sequence", cat(meta(ExplicitVRLittleEndian), explicitHeader(TagReferencedSeriesSequence, "SQ", 8), []byte{0xFE, 0xFF, 0, 0xE0, 0xFF, 0, 0, 0}), ErrMalformed, "item claims 255 bytes"},
		{"unclosed sequence", cat(meta(ExplicitVRLittleEndian), explicitHeader(TagReferencedSeriesSequence, "SQ", 0xFFFFFFFF), []byte{0xFE, 0xFF, 0, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF}), ErrMalformed, "truncated"},
		{"not an item", cat(meta(ExplicitVRLittleEndian), explicitHeader(TagReferencedSeriesSequence, "SQ", 0xFFFFFFFF), explicitHeader(TagPatientID, "LO", 0)), ErrMalformed, "expected an item"},
	}
	// Deep nesting: sequences inside items, 100 levels.
	var deep bytes.Buffer
	deep.Write(meta(ExplicitVRLittleEndian))
	for i := 0; i < 100; i++ {
		deep.Write(explicitHeader(TagReferencedSeriesSequence, "SQ", 0xFFFFFFFF))
		deep.Write([]byte{0xFE, 0xFF, 0, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF})
	}
	tests = append(tests, struct {
		name string
		in   []byte
		kind error
		msg  string
	}{"deep nesting", deep.Bytes(), ErrTooLarge, "nested deeper than 32"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMeta(bytes.NewReader(tc.in), int64(len(tc.in)), Options{})
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	b := readCorpus(t, "rtstruct/dicompyler_rtss.dcm")
	_, err := ReadMeta(bytes.NewReader(b), int64(len(b)), Options{Limits: Limits{MaxElements: 500}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxElements: err = %v", err)
	}
	_, err = ReadMeta(bytes.NewReader(b), int64(len(b)), Options{Limits: Limits{MaxValueBytes: 1000}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxValueBytes: err = %v", err)
	}
	df := readCorpus(t, "pydicom/image_dfl.dcm")
	_, err = ReadMeta(bytes.NewReader(df), int64(len(df)), Options{Limits: Limits{MaxInflatedBytes: 100}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxInflatedBytes: err = %v", err)
	}
}

func TestLoadBulk(t *testing.T) {
	b := readCorpus(t, "encapsulated/stl2dcm_sphere_binary.dcm")
	obj, err := ReadMeta(bytes.NewReader(b), int64(len(b)), Options{Limits: Limits{BulkThreshold: 1024}, LoadBulk: func(t Tag) bool { return t == TagEncapsulatedDocument }})
	if err != nil {
		t.Fatal(err)
	}
	doc := obj.Dataset.Get(TagEncapsulatedDocument)
	if doc == nil || len(doc.Value) != 144084 {
		t.Fatalf("encapsulated document not loaded: %+v", doc)
	}
}

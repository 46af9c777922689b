package dicomx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// explicitLE appends one explicit VR little endian element with a short
// (2-byte) or long (4-byte) length field as its VR requires.
func explicitLE(b []byte, group, elem uint16, vr string, value []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, group)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = append(b, vr...)
	switch vr {
	case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV":
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	default:
		b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	}
	return append(b, value...)
}

func part10(meta func([]byte) []byte, body func([]byte) []byte) []byte {
	b := append(make([]byte, 128), "DICM"...)
	b = meta(b)
	return body(b)
}

var explicitTS = []byte("1.2.840.10008.1.2.1\x00")

// libraryCrashers are inputs that made github.com/suyashkumar/dicom panic
// after this package's reader had accepted them (found by FuzzReader).
func libraryCrashers() map[string][]byte {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	return map[string][]byte{
		"empty group length": part10(func(b []byte) []byte {
			b = explicitLE(b, 0x0002, 0x0000, "UL", nil)
			return explicitLE(b, 0x0002, 0x0010, "UI", explicitTS)
		}, func(b []byte) []byte {
			return explicitLE(b, 0x0008, 0x0060, "CS", []byte("CT"))
		}),
		"group length as UI, charset as UL": part10(func(b []byte) []byte {
			b = explicitLE(b, 0x0002, 0x0000, "UI", []byte("1\x00"))
			return explicitLE(b, 0x0002, 0x0010, "UI", explicitTS)
		}, func(b []byte) []byte {
			return explicitLE(b, 0x0008, 0x0005, "UL", u32(100))
		}),
		"charset as UL": part10(func(b []byte) []byte {
			ts := explicitLE(nil, 0x0002, 0x0010, "UI", explicitTS)
			b = explicitLE(b, 0x0002, 0x0000, "UL", u32(uint32(len(ts))))
			return append(b, ts...)
		}, func(b []byte) []byte {
			return explicitLE(b, 0x0008, 0x0005, "UL", u32(100))
		}),
		"empty transfer syntax": part10(func(b []byte) []byte {
			ts := explicitLE(nil, 0x0002, 0x0010, "UI", nil)
			b = explicitLE(b, 0x0002, 0x0000, "UL", u32(uint32(len(ts))))
			return append(b, ts...)
		}, func(b []byte) []byte {
			return explicitLE(b, 0x0008, 0x0060, "CS", []byte("CT"))
		}),
		"transfer syntax as UL": part10(func(b []byte) []byte {
			ts := explicitLE(nil, 0x0002, 0x0010, "UL", u32(7))
			b = explicitLE(b, 0x0002, 0x0000, "UL", u32(uint32(len(ts))))
			return append(b, ts...)
		}, func(b []byte) []byte {
			return explicitLE(b, 0x0008, 0x0060, "CS", []byte("CT"))
		}),
	}
}

// TestParseFullNeverPanics: every input that once crashed the library is
// refused (or parsed) with an error, never a panic.
func TestParseFullNeverPanics(t *testing.T) {
	for name, b := range libraryCrashers() {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFull(bytes.NewReader(b), int64(len(b)), Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v is neither unsupported nor malformed", err)
			}
		})
	}
}

// TestParseFullRecovers: were validation to miss a case, a panic inside the
// library comes back as an error.
func TestParseFullRecovers(t *testing.T) {
	err := callLibrary(func() error { panic("index out of range") })
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

// TestLibraryCrashersInFuzzCorpus keeps every crasher in the fuzz corpus, so
// that `go test` replays them through every reading path of FuzzReader.
func TestLibraryCrashersInFuzzCorpus(t *testing.T) {
	for name, b := range libraryCrashers() {
		p := filepath.Join("testdata", "fuzz", "FuzzReader", "library-"+slug(name))
		want := "go test fuzz v1\n[]byte(" + quoteBytes(b) + ")\n"
		got, err := os.ReadFile(p)
		if *update {
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("%s: missing or stale (run go test -run TestLibraryCrashersInFuzzCorpus -update)", p)
		}
	}
}

func slug(s string) string {
	out := []byte(strings.ToLower(s))
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			out[i] = '-'
		}
	}
	return string(out)
}

func quoteBytes(b []byte) string {
	var s bytes.Buffer
	s.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			s.WriteString(`\x`)
			s.WriteByte("0123456789abcdef"[c>>4])
			s.WriteByte("0123456789abcdef"[c&15])
		}
	}
	s.WriteByte('"')
	return s.String()
}

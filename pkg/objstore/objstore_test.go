package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestExactReader(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		size    int64
		wantErr error
	}{
		{"exact", "hello", 5, nil},
		{"empty", "", 0, nil},
		{"shorter than stated", "hel", 5, ErrChanged},
		{"longer than stated", "hello world", 5, ErrChanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(ExactReader(strings.NewReader(tc.data), tc.size))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && string(got) != tc.data {
				t.Errorf("read %q", got)
			}
			if int64(len(got)) > tc.size {
				t.Errorf("read %d bytes past the stated size %d", len(got), tc.size)
			}
		})
	}
	// One byte at a time, and with data and EOF in one call.
	if err := iotest.TestReader(ExactReader(strings.NewReader("abcdef"), 6), []byte("abcdef")); err != nil {
		t.Error(err)
	}
	if _, err := io.ReadAll(ExactReader(iotest.DataErrReader(strings.NewReader("abc")), 3)); err != nil {
		t.Errorf("data+EOF reader: %v", err)
	}
}

func TestContextReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ContextReader(ctx, bytes.NewReader(make([]byte, 100)))
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v", err)
	}
}

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a/b c+d.dcm":                      true,
		"ü/é":                              true,
		"":                                 false,
		"a\x00b":                           false,
		string([]byte{0xc3}):               false,
		strings.Repeat("k", MaxKeyBytes):   true,
		strings.Repeat("k", MaxKeyBytes+1): false,
	} {
		if err := CheckKey(key); (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidKey)) {
			t.Errorf("CheckKey(%.20q) = %v", key, err)
		}
	}
}

func BenchmarkExactReader(b *testing.B) {
	data := make([]byte, 512<<10)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := ExactReader(bytes.NewReader(data), int64(len(data)))
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

package assemble

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
)

// TestSpoolSum: the spool's SHA-256 is that of what was written, in memory
// or on disk, and is dropped past maxHashed (the upload then signs in
// chunks).
func TestSpoolSum(t *testing.T) {
	pool := &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	for _, tc := range []struct {
		name   string
		size   int
		hashed bool
	}{
		{"empty", 0, true},
		{"memory", 100 << 10, true},
		{"disk", 3 << 20, true},
		{"at the limit", maxHashed, true},
		{"past the limit", maxHashed + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := newSpool(pool, t.TempDir(), 1<<20, true)
			defer sp.Close()
			data := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 48<<10)
				if _, err := sp.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if unhashed := newSpool(pool, t.TempDir(), 1<<20, false); unhashed.SHA256() != nil {
				t.Error("a spool asked for no sum has one")
			}
			got := sp.SHA256()
			if !tc.hashed {
				if got != nil {
					t.Errorf("sum kept for %d bytes, over the %d limit", tc.size, maxHashed)
				}
				return
			}
			want := sha256.Sum256(data)
			if !bytes.Equal(got, want[:]) {
				t.Errorf("sum %x, want %x", got, want)
			}
		})
	}
}

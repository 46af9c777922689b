package dicomx

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// deflateBomb is a small deflated object whose items each hold one large
// text value: every value is under MaxValueBytes, their sum is not.
func deflateBomb(t testing.TB, items int, valueBytes int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b, SyntaxFor(DeflatedExplicitVRLittleEndian))
	if err := w.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, DeflatedExplicitVRLittleEndian)}}); err != nil {
		t.Fatal(err)
	}
	var its []*Dataset
	text := bytes.Repeat([]byte("A"), valueBytes)
	for range items {
		its = append(its, &Dataset{Elements: []*Element{NewBytes(0x0040A160, VRUT, text)}})
	}
	for _, e := range []*Element{
		NewText(TagSOPClassUID, VRUI, CTImageStorage),
		NewText(TagSOPInstanceUID, VRUI, "1.2.3.4"),
		NewSequence(0x0040A730, its...),
	} {
		if err := w.WriteElement(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestHeldBytesBounded: a deflated object of many large values is refused
// once what it holds passes MaxHeldBytes, having allocated about that much.
func TestHeldBytesBounded(t *testing.T) {
	bomb := deflateBomb(t, 40, 1<<20) // 40 MiB of values
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	lim := Limits{MaxHeldBytes: 8 << 20}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadMeta(bytes.NewReader(bomb), int64(len(bomb)), Options{Limits: lim})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	// Values of unknown final size grow by doubling: about twice what is
	// held is allocated in all.
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*uint64(lim.MaxHeldBytes) {
		t.Errorf("allocated %d bytes for a %d-byte limit", got, lim.MaxHeldBytes)
	}
	// Within the limit the same object reads.
	if _, err := ReadMeta(bytes.NewReader(bomb), int64(len(bomb)), Options{Limits: Limits{MaxHeldBytes: 64 << 20}}); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
}

// TestBudgetSharedByObjects: objects that each fit their own limit wait for
// each other in a shared budget, and fail as busy when it stays full.
func TestBudgetSharedByObjects(t *testing.T) {
	obj := deflateBomb(t, 4, 1<<20) // 4 MiB held
	b := NewBudget(6 << 20)
	h1 := b.Hold(0)
	if _, err := ReadMeta(bytes.NewReader(obj), int64(len(obj)), Options{Hold: h1}); err != nil {
		t.Fatal(err)
	}
	if b.Used() < 4<<20 {
		t.Fatalf("used %d after one object", b.Used())
	}
	// A second object does not fit while the first holds its values.
	h2 := b.Hold(50 * time.Millisecond)
	_, err := ReadMeta(bytes.NewReader(obj), int64(len(obj)), Options{Hold: h2})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
	h2.Release()
	// It waits for the first to finish.
	h3 := b.Hold(10 * time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := ReadMeta(bytes.NewReader(obj), int64(len(obj)), Options{Hold: h3}); err != nil {
			t.Error(err)
		}
	})
	h1.Release()
	wg.Wait()
	h3.Release()
	h3.Release()
	if b.Used() != 0 {
		t.Errorf("used %d after every hold was released", b.Used())
	}
	// More than the whole budget is too large, not busy.
	small := NewBudget(1 << 20)
	if _, err := ReadMeta(bytes.NewReader(obj), int64(len(obj)), Options{Hold: small.Hold(time.Second)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
}

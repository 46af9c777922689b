package receive

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/printreg/printreg/pkg/dimse"
)

// BenchmarkCStoreToDirStore measures one instance end to end: a 512x512 CT
// slice sent by the Go client, spooled, checked and put durably (fsync) into
// a directory store before the response.
func BenchmarkCStoreToDirStore(b *testing.B) {
	e := startEnv(b, testConfig(b), newDirBucket(b))
	f := loadInstance(b, filepath.Join(testdata, "dicompyler/ct.0.dcm"))
	c, err := dimse.Dial(context.Background(), e.dimse, dimse.ClientConfig{CallingAE: "BENCH",
		Contexts: contextsFor([]instanceFile{f}), MaxPDULength: 131072})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release(context.Background())
	b.SetBytes(int64(len(f.dataSet)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.StoreFile(context.Background(), f.path)
		if err != nil || !res.Status.IsSuccess() {
			b.Fatal(res, err)
		}
	}
}

package pipeline

import (
	"os"
	"testing"

	"github.com/printreg/printreg/pkg/sitekey"
)

func BenchmarkDecodeWorkNotification(b *testing.B) {
	data, err := os.ReadFile("s3event/testdata/minio-put.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWork(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVersionID(b *testing.B) {
	k, _ := sitekey.New([]byte("0123456789abcdef0123456789abcdef-bench"))
	ref := ObjectRef{Bucket: "raw", Key: "ACC123/series/slice-00001.dcm", ETag: "5d41402abc4b2a76b9719d911017c592"}
	b.ReportAllocs()
	for b.Loop() {
		_ = VersionID(k, ref)
	}
}

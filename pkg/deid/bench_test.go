package deid

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// benchCT is a 512×512 16-bit CT slice with a typical header (the canary
// header, about 2.6 KB) and 512 KiB of pixel data.
func benchCT(b *testing.B) []byte {
	in := canaryCT(b, dicomx.ExplicitVRLittleEndian)
	_, ds := readAll(b, in)
	px := make([]byte, 512*512*2)
	for i := range px {
		px[i] = byte(i * 7)
	}
	var els []*dicomx.Element
	for _, e := range ds.Elements {
		switch e.Tag {
		case dicomx.TagPixelData:
			e = dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, px)
		case 0x00280010, 0x00280011:
			e = dicomx.NewUint16(e.Tag, false, 512)
		}
		els = append(els, e)
	}
	return writeObject(b, dicomx.ExplicitVRLittleEndian, nil, els)
}

func BenchmarkDeidentifyCT(b *testing.B) {
	in := benchCT(b)
	for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
		e := newEngine(b, p)
		b.Run(p.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				if _, err := e.Deidentify(context.Background(), io.Discard, bytes.NewReader(in), int64(len(in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopyCT is the floor: the same bytes copied through the same
// buffered writer.
func BenchmarkCopyCT(b *testing.B) {
	in := benchCT(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		if _, err := io.Copy(io.Discard, bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeidentifyDir de-identifies the DICOM files of the directory
// named by PRINTREG_DEID_BENCH_DIR (for example the CT corpus of
// bench/deid/run.sh), in memory, one object per iteration. It profiles the
// engine on real headers without the file system:
//
//	PRINTREG_DEID_BENCH_DIR=/tmp/dcmbench/corpus go test -run '^$' \
//	    -bench DeidentifyDir -cpuprofile /tmp/deid.prof ./pkg/deid
func BenchmarkDeidentifyDir(b *testing.B) {
	dir := os.Getenv("PRINTREG_DEID_BENCH_DIR")
	if dir == "" {
		b.Skip("PRINTREG_DEID_BENCH_DIR not set")
	}
	var objs [][]byte
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || len(objs) >= 200 {
			return err
		}
		in, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		objs = append(objs, in)
		total += int64(len(in))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(objs) == 0 {
		b.Fatal("no files")
	}
	for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
		e := newEngine(b, p)
		b.Run(p.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(total / int64(len(objs)))
			for i := 0; i < b.N; i++ {
				in := objs[i%len(objs)]
				if _, err := e.Deidentify(context.Background(), io.Discard, bytes.NewReader(in), int64(len(in))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

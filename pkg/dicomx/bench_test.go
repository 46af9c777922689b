package dicomx

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchSlice is a real 512×512 CT slice (526 KB, implicit VR, ~2 KB header).
const benchSlice = "series_dcmqi_ct-3slice/01.dcm"

// BenchmarkReadMeta: header-only read and fact extraction of one CT slice
// held in memory (no file system in the loop). Set PRINTREG_BENCH_CORPUS to a
// directory (e.g. one made by make_corpus.py) to also read files from disk.
func BenchmarkReadMeta(b *testing.B) {
	data := readCorpus(b, benchSlice)
	b.Run("memory", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			obj, err := ReadMeta(bytes.NewReader(data), int64(len(data)), MetaOptions(Limits{}))
			if err != nil {
				b.Fatal(err)
			}
			Extract(obj)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})
	dir := os.Getenv("PRINTREG_BENCH_CORPUS")
	if dir == "" {
		return
	}
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		b.Fatalf("no files under %s", dir)
	}
	b.Run("files", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f, err := os.Open(files[i%len(files)])
			if err != nil {
				b.Fatal(err)
			}
			st, _ := f.Stat()
			obj, err := ReadMeta(f, st.Size(), MetaOptions(Limits{}))
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			Extract(obj)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// BenchmarkCopyThrough: read every element and write it back, streaming the
// pixel data — the floor under any de-identification built on this codec.
func BenchmarkCopyThrough(b *testing.B) {
	data := readCorpus(b, benchSlice)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		rd, err := NewReader(bytes.NewReader(data), int64(len(data)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		w := NewWriter(io.Discard, rd.Syntax())
		if err := w.WriteFileHeader(rd.Preamble(), rd.Meta()); err != nil {
			b.Fatal(err)
		}
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if e.Bulk {
				w.WriteHeader(e.Tag, e.VR, e.Length)
				if _, err := rd.CopyValue(w.Raw()); err != nil {
					b.Fatal(err)
				}
				continue
			}
			if err := w.WriteElement(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

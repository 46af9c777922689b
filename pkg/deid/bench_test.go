package deid

import (
	"bytes"
	"context"
	"io"
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

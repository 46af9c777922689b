package dimse

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkCStore measures the server's network path: one association,
// CT-sized data sets (512 KiB) sent by the Go client and discarded.
func BenchmarkCStore(b *testing.B) {
	srv := startServer(b, Config{MaxPDULength: 131072}, discardHandler{})
	c := dial(b, srv.addr, ClientConfig{MaxPDULength: 131072})
	defer c.Release(context.Background())
	data := payload(512 << 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Store(context.Background(), ctImage, "1.2.3.4", explicitL, bytes.NewReader(data))
		if err != nil || !res.Status.IsSuccess() {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkDecodeAssociateRQ(b *testing.B) {
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "PRINTREG", CallingAE: "SCU", ApplicationContext: ApplicationContextName,
		UserInfo: UserInfo{MaxLength: 16384, ImplementationClassUID: "1.2.3"}}
	for i := 0; i < 64; i++ {
		rq.Contexts = append(rq.Contexts, ContextRQ{ID: byte(2*i + 1), AbstractSyntax: ctImage,
			TransferSyntaxes: []string{explicitL, implicitL, jpegLS}})
	}
	body := rq.Encode()[pduHeaderLen:]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeAssociateRQ(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	cmd := storeCommand(ctImage, "1.2.826.0.1.3680043.2.1125.1.12345678901234567890", 7)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeCommand(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

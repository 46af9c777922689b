package dimse

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomstatus"
)

// fuzzSeeds are PDU streams: the recorded storescu association, each of its
// PDUs alone, and hand-built PDUs of every type.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	if rec, err := os.ReadFile(recording); err == nil {
		seeds = append(seeds, rec)
		rd := pduReader{r: bytes.NewReader(rec)}
		off := 0
		for {
			_, n, err := rd.next()
			if err != nil {
				break
			}
			if _, err := io.CopyN(io.Discard, rd.r, int64(n)); err != nil {
				break
			}
			rd.left = 0
			seeds = append(seeds, rec[off:off+pduHeaderLen+int(n)])
			off += pduHeaderLen + int(n)
		}
	}
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "PRINTREG", CallingAE: "SCU", ApplicationContext: ApplicationContextName,
		Contexts: storageContexts(), UserInfo: UserInfo{MaxLength: 16384, ImplementationClassUID: "1.2.3",
			ImplementationVersion: "X", AsyncOps: &[2]uint16{1, 1}, Roles: []RoleSelection{{SOPClassUID: ctImage, SCU: true}}}}
	for i := range rq.Contexts {
		rq.Contexts[i].ID = byte(2*i + 1)
	}
	ac := &AssociateAC{ProtocolVersion: 1, ApplicationContext: ApplicationContextName,
		Contexts: []ContextAC{{ID: 1, TransferSyntax: explicitL}, {ID: 3, Result: ContextAbstractSyntaxUnsupported}},
		UserInfo: UserInfo{MaxLength: 4096, ImplementationClassUID: ImplementationClassUID}}
	var stream []byte
	stream = append(stream, rq.Encode()...)
	stream = append(stream, pdataPDU(3, true, true, storeCommand(ctImage, "1.2.3", 7))...)
	stream = append(stream, pdataPDU(3, false, false, payload(64))...)
	stream = append(stream, pdataPDU(3, false, true, payload(64))...)
	stream = append(stream, encodeReleaseRQ()...)
	seeds = append(seeds, rq.Encode(), ac.Encode(), (&AssociateRJ{1, 1, 3}).Encode(),
		encodeAbort(2, 6), encodeReleaseRP(), stream,
		pdataPDU(1, true, true, (&Command{Field: CEchoRQ, MessageID: 1, AffectedSOPClassUID: VerificationSOPClass}).Encode()))
	return seeds
}

// FuzzPDU runs the PDU reader and the association and command decoders
// over arbitrary streams: no panic, no unbounded allocation, and what
// decodes re-encodes to something that decodes the same.
func FuzzPDU(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(runPDU)
}

func runPDU(t *testing.T, data []byte) {
	rd := pduReader{r: bytes.NewReader(data), maxPData: 1 << 16}
	for i := 0; i < 64; i++ {
		typ, n, err := rd.next()
		if err != nil {
			return
		}
		switch typ {
		case pduPData:
			for {
				v, ok, err := rd.nextPDV()
				if err != nil || !ok {
					break
				}
				if v.Command {
					w := cmdWriter{}
					if _, err := rd.payload(&w); err != nil {
						return
					}
					if cmd, err := DecodeCommand(w.b); err == nil {
						again, err := DecodeCommand(cmd.Encode())
						if err != nil {
							t.Fatalf("re-encoded command does not decode: %v", err)
						}
						_ = again
					}
				} else if _, err := rd.payload(io.Discard); err != nil {
					return
				}
			}
			if rd.left != 0 || rd.pdvLeft != 0 {
				return
			}
		default:
			body, err := rd.body(n)
			if err != nil {
				return
			}
			switch typ {
			case pduAssociateRQ:
				if rq, err := DecodeAssociateRQ(body); err == nil {
					enc := rq.Encode()
					rq2, err := DecodeAssociateRQ(enc[pduHeaderLen:])
					if err != nil {
						t.Fatalf("re-encoded A-ASSOCIATE-RQ does not decode: %v", err)
					}
					if !reflect.DeepEqual(rq.Contexts, rq2.Contexts) || rq.CallingAE != rq2.CallingAE {
						t.Fatalf("A-ASSOCIATE-RQ round trip differs")
					}
				}
			case pduAssociateAC:
				_, _ = DecodeAssociateAC(body)
			}
		}
	}
}

// FuzzCommand checks the command set codec on arbitrary bytes.
func FuzzCommand(f *testing.F) {
	f.Add(storeCommand(ctImage, "1.2.3.4", 1))
	f.Add((&Command{Field: CStoreRSP, MessageIDRespondedTo: 9, Status: dicomstatus.OutOfResources, ErrorComment: "full",
		AffectedSOPClassUID: ctImage, AffectedSOPInstanceUID: "1.2"}).Encode())
	f.Add((&Command{Field: CStoreRQ, MessageID: 2, AffectedSOPClassUID: ctImage, AffectedSOPInstanceUID: "1.2",
		HasDataSet: true, MoveOriginatorAE: "MOVER", MoveOriginatorMessageID: 4}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := DecodeCommand(data)
		if err != nil {
			return
		}
		again, err := DecodeCommand(cmd.Encode())
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if again.Field != cmd.Field || again.AffectedSOPInstanceUID != cmd.AffectedSOPInstanceUID || again.HasDataSet != cmd.HasDataSet {
			t.Fatalf("round trip differs: %+v vs %+v", cmd, again)
		}
	})
}

// FuzzAssociation feeds arbitrary streams to the server's association
// state machine over an in-memory connection: it must answer or abort,
// close, and never commit an instance whose last fragment did not arrive.
func FuzzAssociation(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	srv, err := NewServer(Config{ARTIMTimeout: 20 * time.Millisecond, IdleTimeout: 20 * time.Millisecond,
		MaxPDULength: 1 << 16, MaxObjectBytes: 1 << 20}, discardHandler{}, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			pc := &pipeConn{Conn: server}
			srv.handle(context.Background(), pc, remoteAddr(pc), time.Now())
			close(done)
		}()
		go io.Copy(io.Discard, client)
		go func() {
			client.Write(data)
		}()
		<-done
		client.Close()
		if srv.Active() != 0 {
			t.Fatalf("association still counted after it ended")
		}
	})
}

// pipeConn gives net.Pipe a TCP-like remote address.
type pipeConn struct{ net.Conn }

func (p *pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// discardHandler accepts every instance and keeps nothing.
type discardHandler struct{}

func (discardHandler) Ready(context.Context) error { return nil }
func (discardHandler) BeginStore(context.Context, *StoreRequest) (Sink, Result) {
	return discardSink{}, Result{}
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error)   { return len(p), nil }
func (discardSink) Commit(context.Context) Result { return Result{} }
func (discardSink) Abort()                        {}

package dimse

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/dicomstatus"
)

// memHandler keeps committed data sets in memory.
type memHandler struct {
	mu       sync.Mutex
	stored   map[string][]byte // SOP instance UID → data set
	reqs     map[string]StoreRequest
	aborted  int
	notReady error
	commit   Result // returned by Commit when Status is not success
	begun    chan struct{}
}

func newMemHandler() *memHandler {
	return &memHandler{stored: map[string][]byte{}, reqs: map[string]StoreRequest{}}
}

func (h *memHandler) Ready(ctx context.Context) error { return h.notReady }

func (h *memHandler) BeginStore(ctx context.Context, req *StoreRequest) (Sink, Result) {
	if h.begun != nil {
		h.begun <- struct{}{}
	}
	return &memSink{h: h, req: *req}, Result{}
}

func (h *memHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.stored)
}

func (h *memHandler) abortedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.aborted
}

type memSink struct {
	h   *memHandler
	req StoreRequest
	buf bytes.Buffer
}

func (s *memSink) Write(p []byte) (int, error) { return s.buf.Write(p) }

func (s *memSink) Commit(ctx context.Context) Result {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.h.commit.Status != dicomstatus.Success {
		return s.h.commit
	}
	s.h.stored[s.req.SOPInstanceUID] = bytes.Clone(s.buf.Bytes())
	s.h.reqs[s.req.SOPInstanceUID] = s.req
	return Result{}
}

func (s *memSink) Abort() {
	s.h.mu.Lock()
	s.h.aborted++
	s.h.mu.Unlock()
}

// testServer runs a server on a loopback port for the test's lifetime.
type testServer struct {
	*Server
	addr string
	stop func()
}

func startServer(t testing.TB, cfg Config, h Handler) *testServer {
	t.Helper()
	return startServerLog(t, cfg, h, zerolog.Nop())
}

// startServerLog is startServer with the server's log going to log.
func startServerLog(t testing.TB, cfg Config, h Handler, log zerolog.Logger) *testServer {
	t.Helper()
	s, err := NewServer(cfg, h, log)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{Server: s, addr: ln.Addr().String(), stop: stop}
}

const (
	ctImage   = "1.2.840.10008.5.1.4.1.1.2"
	mrImage   = "1.2.840.10008.5.1.4.1.1.4"
	jpegLS    = "1.2.840.10008.1.2.4.80"
	implicitL = "1.2.840.10008.1.2"
	explicitL = "1.2.840.10008.1.2.1"
)

func storageContexts() []ContextRQ {
	return []ContextRQ{
		{AbstractSyntax: VerificationSOPClass, TransferSyntaxes: []string{implicitL}},
		{AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL, implicitL}},
		{AbstractSyntax: mrImage, TransferSyntaxes: []string{jpegLS}},
	}
}

func dial(t testing.TB, addr string, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.CallingAE == "" {
		cfg.CallingAE = "TESTSCU"
	}
	if cfg.CalledAE == "" {
		cfg.CalledAE = "PRINTREG"
	}
	if cfg.Contexts == nil {
		cfg.Contexts = storageContexts()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	c, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// rawConn is a peer that writes PDUs by hand.
type rawConn struct {
	t testing.TB
	net.Conn
	rd pduReader
}

func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, Conn: c, rd: pduReader{r: c}}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expectPDU reads the next PDU and returns its type and body (P-DATA
// bodies are returned raw).
func (c *rawConn) expectPDU() (byte, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var hdr [6]byte
	if _, err := readFull(c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[2])<<24 | int(hdr[3])<<16 | int(hdr[4])<<8 | int(hdr[5])
	if n > 1<<20 {
		return 0, nil, errors.New("huge PDU")
	}
	b := make([]byte, n)
	if _, err := readFull(c, b); err != nil {
		return 0, nil, err
	}
	return hdr[0], b, nil
}

// expectAbort reads until an A-ABORT arrives and returns its reason.
func (c *rawConn) expectAbort() byte {
	c.t.Helper()
	for {
		typ, b, err := c.expectPDU()
		if err != nil {
			c.t.Fatalf("waiting for A-ABORT: %v", err)
		}
		if typ == pduAbort {
			return b[3]
		}
	}
}

// expectClosed reads until the server closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [4096]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("server did not close the connection")
			}
			return
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// associate performs an association by hand with the standard contexts.
func (c *rawConn) associate(maxPDU uint32) *AssociateAC {
	c.t.Helper()
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "PRINTREG", CallingAE: "RAWSCU",
		ApplicationContext: ApplicationContextName, UserInfo: UserInfo{MaxLength: maxPDU, ImplementationClassUID: "1.2.3.4"}}
	for i, pc := range storageContexts() {
		pc.ID = byte(2*i + 1)
		rq.Contexts = append(rq.Contexts, pc)
	}
	c.write(rq.Encode())
	typ, b, err := c.expectPDU()
	if err != nil || typ != pduAssociateAC {
		c.t.Fatalf("association: type 0x%02X, %v", typ, err)
	}
	ac, err := DecodeAssociateAC(b)
	if err != nil {
		c.t.Fatalf("decoding the AC: %v", err)
	}
	return ac
}

// pdataPDU builds one P-DATA-TF with one PDV.
func pdataPDU(ctxID byte, command, last bool, payload []byte) []byte {
	var out []byte
	_ = writeMessage(func(b []byte) error { out = append(out, b...); return nil }, ctxID, payload, command, 0)
	if !last {
		// writeMessage flags the last fragment; clear it.
		out[11] &^= pdvLast
	}
	return out
}

func storeCommand(sopClass, sopInstance string, msgID uint16) []byte {
	return (&Command{Field: CStoreRQ, MessageID: msgID, AffectedSOPClassUID: sopClass,
		AffectedSOPInstanceUID: sopInstance, HasDataSet: true}).Encode()
}

// readResponse reads P-DATA PDUs until a whole command arrives.
func (c *rawConn) readResponse() *Command {
	c.t.Helper()
	var cmd []byte
	for {
		typ, b, err := c.expectPDU()
		if err != nil {
			c.t.Fatalf("waiting for a response: %v", err)
		}
		if typ != pduPData {
			c.t.Fatalf("PDU type 0x%02X while waiting for a response", typ)
		}
		for len(b) >= 6 {
			n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			cmd = append(cmd, b[6:4+n]...)
			last := b[5]&pdvLast != 0
			b = b[4+n:]
			if last {
				rsp, err := DecodeCommand(cmd)
				if err != nil {
					c.t.Fatalf("decoding the response: %v", err)
				}
				return rsp
			}
		}
	}
}

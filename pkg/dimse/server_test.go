package dimse

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/tlsconf"
)

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestEchoAndStoreFragmented(t *testing.T) {
	h := newMemHandler()
	// A small PDU length forces every data set into many fragments.
	srv := startServer(t, Config{AETitles: []string{"PRINTREG"}, MaxPDULength: MinPDULength}, h)
	c := dial(t, srv.addr, ClientConfig{MaxPDULength: MinPDULength})
	if uid, ver := c.PeerImplementation(); uid != ImplementationClassUID || ver != ImplementationVersionName {
		t.Errorf("peer implementation = %q %q", uid, ver)
	}
	if c.PeerMaxPDU() != MinPDULength {
		t.Errorf("advertised max PDU = %d, want %d", c.PeerMaxPDU(), MinPDULength)
	}
	st, err := c.Echo(context.Background())
	if err != nil || st != dicomstatus.Success {
		t.Fatalf("Echo = %v, %v", st, err)
	}
	sets := map[string][]byte{"1.2.3.1": payload(100_000), "1.2.3.2": payload(10), "1.2.3.3": {}}
	for uid, data := range sets {
		res, err := c.Store(context.Background(), ctImage, uid, explicitL, bytes.NewReader(data))
		if err != nil || res.Status != dicomstatus.Success {
			t.Fatalf("Store %s = %+v, %v", uid, res, err)
		}
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	for uid, data := range sets {
		if got := h.stored[uid]; !bytes.Equal(got, data) {
			t.Errorf("%s: stored %d bytes, sent %d (or different)", uid, len(got), len(data))
		}
		if req := h.reqs[uid]; req.TransferSyntaxUID != explicitL || req.Association.CallingAE != "TESTSCU" || req.SOPClassUID != ctImage {
			t.Errorf("%s: request %+v", uid, req)
		}
	}
	srv.stop()
	if s := srv.Stats(); s.Accepted != 1 || s.Released != 1 || s.Stored != 3 {
		t.Errorf("stats = %+v", s)
	}
}

func TestNegotiation(t *testing.T) {
	h := newMemHandler()
	srv := startServer(t, Config{}, h)
	cases := []struct {
		name     string
		abstract string
		syntaxes []string
		result   byte
		syntax   string
	}{
		{"verification", VerificationSOPClass, []string{implicitL}, ContextAccepted, implicitL},
		{"CT as proposed, first accepted syntax", ctImage, []string{"1.2.840.10008.1.2.4.90", explicitL}, ContextAccepted, "1.2.840.10008.1.2.4.90"},
		{"unknown proposed syntax skipped", ctImage, []string{"1.2.3.4.5", "1.2.840.10008.1.2.5"}, ContextAccepted, "1.2.840.10008.1.2.5"},
		{"HTJ2K", mrImage, []string{"1.2.840.10008.1.2.4.201"}, ContextAccepted, "1.2.840.10008.1.2.4.201"},
		{"deflate", mrImage, []string{"1.2.840.10008.1.2.1.99"}, ContextAccepted, "1.2.840.10008.1.2.1.99"},
		{"big endian", mrImage, []string{"1.2.840.10008.1.2.2"}, ContextAccepted, "1.2.840.10008.1.2.2"},
		{"encapsulated STL", "1.2.840.10008.5.1.4.1.1.104.3", []string{explicitL}, ContextAccepted, explicitL},
		{"unknown SOP class", "1.2.3.4.5.6", []string{explicitL}, ContextAbstractSyntaxUnsupported, ""},
		{"query model is not storage", "1.2.840.10008.5.1.4.1.2.2.1", []string{explicitL}, ContextAbstractSyntaxUnsupported, ""},
		{"protocol approval FIND under the storage root", "1.2.840.10008.5.1.4.1.1.200.4", []string{explicitL}, ContextAbstractSyntaxUnsupported, ""},
		{"storage commitment", "1.2.840.10008.1.20.1", []string{explicitL}, ContextAbstractSyntaxUnsupported, ""},
		{"no acceptable syntax", ctImage, []string{"1.2.3.4.5"}, ContextTransferSyntaxUnsupported, ""},
	}
	var ctxs []ContextRQ
	for _, c := range cases {
		ctxs = append(ctxs, ContextRQ{AbstractSyntax: c.abstract, TransferSyntaxes: c.syntaxes})
	}
	rc := rawDial(t, srv.addr)
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "ANY", CallingAE: "X", ApplicationContext: ApplicationContextName,
		UserInfo: UserInfo{MaxLength: 0, ImplementationClassUID: "1.2.3", AsyncOps: &[2]uint16{5, 5},
			Roles: []RoleSelection{{SOPClassUID: ctImage, SCU: true, SCP: true}, {SOPClassUID: "1.2.3.4.5.6", SCU: true}}}}
	for i, pc := range ctxs {
		pc.ID = byte(2*i + 1)
		rq.Contexts = append(rq.Contexts, pc)
	}
	rc.write(rq.Encode())
	typ, b, err := rc.expectPDU()
	if err != nil || typ != pduAssociateAC {
		t.Fatalf("answer type 0x%02X, %v", typ, err)
	}
	ac, err := DecodeAssociateAC(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ac.Contexts) != len(cases) {
		t.Fatalf("%d answers for %d contexts", len(ac.Contexts), len(cases))
	}
	for i, c := range cases {
		got := ac.Contexts[i]
		if got.ID != byte(2*i+1) || got.Result != c.result || got.TransferSyntax != c.syntax {
			t.Errorf("%s: answer %+v, want result %d syntax %q", c.name, got, c.result, c.syntax)
		}
	}
	if ac.UserInfo.AsyncOps != nil {
		t.Errorf("asynchronous operations window answered: %v", ac.UserInfo.AsyncOps)
	}
	if ac.UserInfo.MaxLength != DefaultMaxPDULength || ac.UserInfo.ImplementationClassUID != ImplementationClassUID ||
		ac.UserInfo.ImplementationVersion != ImplementationVersionName {
		t.Errorf("user information %+v", ac.UserInfo)
	}
	if len(ac.UserInfo.Roles) != 1 || ac.UserInfo.Roles[0] != (RoleSelection{SOPClassUID: ctImage, SCU: true}) {
		t.Errorf("role selection answer %+v", ac.UserInfo.Roles)
	}
	if ac.CalledAE != "ANY" || ac.CallingAE != "X" {
		t.Errorf("AE titles not echoed: %q %q", ac.CalledAE, ac.CallingAE)
	}
	rc.write(encodeReleaseRQ())
	if typ, _, err := rc.expectPDU(); err != nil || typ != pduReleaseRP {
		t.Fatalf("release answer 0x%02X, %v", typ, err)
	}
}

func TestAssociationRejected(t *testing.T) {
	cfg := Config{AETitles: []string{"PRINTREG"}, Sources: []Source{
		{AETitle: "PACS", Networks: []string{"127.0.0.0/8"}, MaxAssociations: 1},
		{AETitle: "FARAWAY", Networks: []string{"10.1.2.3"}},
	}}
	cases := []struct {
		name    string
		mutate  func(*AssociateRQ)
		ready   error
		hold    bool // keep one PACS association open first
		want    AssociateRJ
		refused bool
	}{
		{name: "called AE not served", mutate: func(r *AssociateRQ) { r.CalledAE = "OTHER" },
			want: AssociateRJ{RejectPermanent, RejectSourceUser, RejectCalledAE}},
		{name: "calling AE not allowed", mutate: func(r *AssociateRQ) { r.CallingAE = "STRANGER" },
			want: AssociateRJ{RejectPermanent, RejectSourceUser, RejectCallingAE}},
		{name: "calling AE from the wrong network", mutate: func(r *AssociateRQ) { r.CallingAE = "FARAWAY" },
			want: AssociateRJ{RejectPermanent, RejectSourceUser, RejectCallingAE}},
		{name: "application context", mutate: func(r *AssociateRQ) { r.ApplicationContext = "1.2.3" },
			want: AssociateRJ{RejectPermanent, RejectSourceUser, RejectAppContextUnsupported}},
		{name: "protocol version", mutate: func(r *AssociateRQ) { r.ProtocolVersion = 2 },
			want: AssociateRJ{RejectPermanent, RejectSourceACSE, RejectProtocolVersion}},
		{name: "store unreachable", ready: errors.New("store down"),
			want: AssociateRJ{RejectTransient, RejectSourcePresentation, RejectTemporaryCongestion}},
		{name: "per-source limit", hold: true,
			want: AssociateRJ{RejectTransient, RejectSourcePresentation, RejectLocalLimitExceeded}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newMemHandler()
			h.notReady = c.ready
			srv := startServer(t, cfg, h)
			if c.hold {
				held := dial(t, srv.addr, ClientConfig{CallingAE: "PACS"})
				defer held.Release(context.Background())
			}
			rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "PRINTREG", CallingAE: "PACS",
				ApplicationContext: ApplicationContextName, Contexts: []ContextRQ{{ID: 1, AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL}}},
				UserInfo: UserInfo{ImplementationClassUID: "1.2.3"}}
			if c.mutate != nil {
				c.mutate(rq)
			}
			rc := rawDial(t, srv.addr)
			rc.write(rq.Encode())
			typ, b, err := rc.expectPDU()
			if err != nil || typ != pduAssociateRJ {
				t.Fatalf("answer type 0x%02X, %v", typ, err)
			}
			got := AssociateRJ{b[1], b[2], b[3]}
			if got != c.want {
				t.Errorf("rejection %+v (%s), want %+v", got, RejectReasonText(got.Source, got.Reason), c.want)
			}
			rc.Close()
		})
	}
}

func TestMaxAssociations(t *testing.T) {
	h := newMemHandler()
	srv := startServer(t, Config{MaxAssociations: 2, MaxAssociationsPerSource: 5}, h)
	a := dial(t, srv.addr, ClientConfig{CallingAE: "A"})
	b := dial(t, srv.addr, ClientConfig{CallingAE: "B"})
	_, err := Dial(context.Background(), srv.addr, ClientConfig{CallingAE: "C", CalledAE: "X", Contexts: storageContexts()})
	var rj *AssociateRJ
	if !errors.As(err, &rj) || rj.Reason != RejectLocalLimitExceeded || rj.Result != RejectTransient {
		t.Fatalf("third association: %v", err)
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The released place is free again (release is synchronous with the
	// server's bookkeeping only after the connection closes, so retry).
	var c *Client
	for i := 0; i < 200; i++ {
		c, err = Dial(context.Background(), srv.addr, ClientConfig{CallingAE: "C", CalledAE: "X", Contexts: storageContexts()})
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("association after a release: %v", err)
	}
	c.Release(context.Background())
	b.Release(context.Background())
}

func TestStoreStatuses(t *testing.T) {
	h := newMemHandler()
	srv := startServer(t, Config{MaxObjectBytes: 1000}, h)
	rc := rawDial(t, srv.addr)
	rc.associate(0)
	// ctx 1 = verification, 3 = CT explicit, 5 = MR JPEG-LS
	cases := []struct {
		name    string
		ctxID   byte
		cmd     *Command
		data    []byte
		want    dicomstatus.Code
		stored  bool
		aborted bool
	}{
		{name: "stored", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: ctImage, AffectedSOPInstanceUID: "1.1", HasDataSet: true},
			data: payload(500), want: dicomstatus.Success, stored: true},
		{name: "SOP class differs from the context", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: mrImage, AffectedSOPInstanceUID: "1.2", HasDataSet: true},
			data: payload(10), want: dicomstatus.SOPClassNotSupported},
		{name: "unknown SOP class", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: "1.2.3.4.5", AffectedSOPInstanceUID: "1.3", HasDataSet: true},
			data: payload(10), want: dicomstatus.SOPClassNotSupported},
		{name: "over the size limit", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: ctImage, AffectedSOPInstanceUID: "1.4", HasDataSet: true},
			data: payload(1001), want: dicomstatus.OutOfResources, aborted: true},
		{name: "no instance UID", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: ctImage, HasDataSet: true},
			data: payload(10), want: dicomstatus.CannotUnderstand},
		{name: "no data set", ctxID: 3, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: ctImage, AffectedSOPInstanceUID: "1.5"},
			want: dicomstatus.CannotUnderstand},
		{name: "C-FIND is not offered", ctxID: 3, cmd: &Command{Field: CFindRQ, AffectedSOPClassUID: ctImage, HasDataSet: true},
			data: payload(10), want: dicomstatus.UnrecognizedOperation},
		{name: "C-STORE on the verification context", ctxID: 1, cmd: &Command{Field: CStoreRQ, AffectedSOPClassUID: VerificationSOPClass, AffectedSOPInstanceUID: "1.6", HasDataSet: true},
			data: payload(10), want: dicomstatus.UnrecognizedOperation},
		{name: "echo", ctxID: 1, cmd: &Command{Field: CEchoRQ, AffectedSOPClassUID: VerificationSOPClass}, want: dicomstatus.Success},
	}
	for i, c := range cases {
		c.cmd.MessageID = uint16(i + 1)
		before := h.abortedCount()
		rc.write(pdataPDU(c.ctxID, true, true, c.cmd.Encode()))
		if c.cmd.HasDataSet {
			half := len(c.data) / 2
			rc.write(pdataPDU(c.ctxID, false, false, c.data[:half]))
			rc.write(pdataPDU(c.ctxID, false, true, c.data[half:]))
		}
		rsp := rc.readResponse()
		if rsp.Status != c.want || rsp.MessageIDRespondedTo != c.cmd.MessageID || rsp.Field != c.cmd.Field|0x8000 {
			t.Errorf("%s: response %+v, want status %v", c.name, rsp, c.want)
		}
		if c.want != dicomstatus.Success && rsp.ErrorComment == "" {
			t.Errorf("%s: failure without an error comment", c.name)
		}
		_, stored := h.stored[c.cmd.AffectedSOPInstanceUID]
		if c.cmd.AffectedSOPInstanceUID != "" && stored != c.stored {
			t.Errorf("%s: stored = %v", c.name, stored)
		}
		if c.aborted && h.abortedCount() != before+1 {
			t.Errorf("%s: sink not aborted", c.name)
		}
	}
	if h.count() != 1 {
		t.Errorf("%d instances stored, want 1", h.count())
	}
}

func TestCommitFailureStatus(t *testing.T) {
	h := newMemHandler()
	h.commit = Result{dicomstatus.OutOfResources, "object store unavailable"}
	srv := startServer(t, Config{}, h)
	c := dial(t, srv.addr, ClientConfig{})
	res, err := c.Store(context.Background(), ctImage, "1.2.3", explicitL, bytes.NewReader(payload(300)))
	if err != nil || res.Status != dicomstatus.OutOfResources || res.Comment != "object store unavailable" {
		t.Fatalf("Store = %+v, %v", res, err)
	}
	c.Release(context.Background())
}

// TestBadPeers drives the server with peers that break the protocol: each
// must be aborted (or closed) with nothing partial committed.
func TestBadPeers(t *testing.T) {
	type peer func(t *testing.T, rc *rawConn)
	cmd := storeCommand(ctImage, "9.9.9", 1)
	cases := []struct {
		name   string
		cfg    Config
		run    peer
		reason int // expected A-ABORT reason, -1: connection closed without one
	}{
		{name: "garbage instead of a PDU", reason: int(AbortReasonUnrecognizedPDU), run: func(t *testing.T, rc *rawConn) {
			rc.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}},
		{name: "P-DATA before association", reason: int(AbortReasonUnexpectedPDU), run: func(t *testing.T, rc *rawConn) {
			rc.write(pdataPDU(1, true, true, cmd))
		}},
		{name: "item overruns the association request", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			b := (&AssociateRQ{ProtocolVersion: 1, CalledAE: "A", CallingAE: "B", ApplicationContext: ApplicationContextName,
				Contexts: []ContextRQ{{ID: 1, AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL}}}}).Encode()
			b[6+68+2] = 0xFF // application context item length, high byte
			rc.write(b)
		}},
		{name: "association request over the size cap", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.write([]byte{pduAssociateRQ, 0, 0x7F, 0, 0, 0})
		}},
		{name: "release PDU of the wrong length", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write([]byte{pduReleaseRQ, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0})
		}},
		{name: "oversized P-DATA", cfg: Config{MaxPDULength: 8192}, reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, true, payload(9000)))
		}},
		{name: "PDV on a context not accepted", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, false, payload(100)))
			rc.write(pdataPDU(7, false, true, payload(100)))
		}},
		{name: "data set without a command", reason: int(AbortReasonUnexpectedParam), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, false, true, payload(100)))
		}},
		{name: "PDV shorter than its header", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write([]byte{pduPData, 0, 0, 0, 0, 6, 0, 0, 0, 1, 3, 0})
		}},
		{name: "malformed command set", reason: int(AbortReasonInvalidParamValue), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, []byte{0, 0, 0, 1, 0xFF, 0xFF, 0, 0}))
		}},
		{name: "release in the middle of an instance", reason: int(AbortReasonUnexpectedPDU), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, false, payload(100)))
			rc.write(encodeReleaseRQ())
		}},
		{name: "second association request", reason: int(AbortReasonUnexpectedPDU), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write((&AssociateRQ{ProtocolVersion: 1, ApplicationContext: ApplicationContextName,
				Contexts: []ContextRQ{{ID: 1, AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL}}}}).Encode())
		}},
		{name: "unknown PDU type", reason: int(AbortReasonUnrecognizedPDU), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write([]byte{0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0})
		}},
		{name: "slow sender stalls mid-instance", cfg: Config{IdleTimeout: 300 * time.Millisecond}, reason: int(AbortReasonNotSpecified), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, false, payload(1000)))
			// …and nothing more.
		}},
		{name: "slow sender stalls inside a PDU", cfg: Config{IdleTimeout: 300 * time.Millisecond}, reason: int(AbortReasonNotSpecified), run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			p := pdataPDU(3, false, true, payload(1000))
			rc.write(p[:500])
		}},
		{name: "silent after connect (ARTIM)", cfg: Config{ARTIMTimeout: 300 * time.Millisecond}, reason: -1, run: func(t *testing.T, rc *rawConn) {}},
		{name: "silent after connect (pre-association deadline)", cfg: Config{AssociationRequestTimeout: 300 * time.Millisecond}, reason: -1, run: func(t *testing.T, rc *rawConn) {}},
		{name: "association request left incomplete", cfg: Config{AssociationRequestTimeout: 300 * time.Millisecond}, reason: -1, run: func(t *testing.T, rc *rawConn) {
			rq := (&AssociateRQ{ProtocolVersion: 1, CalledAE: "A", CallingAE: "B", ApplicationContext: ApplicationContextName,
				Contexts: []ContextRQ{{ID: 1, AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL}}}}).Encode()
			rc.write(rq[:len(rq)/2])
		}},
		{name: "peer aborts mid-instance", reason: -1, run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, false, payload(1000)))
			rc.write(encodeAbort(AbortSourceUser, 0))
		}},
		{name: "connection dropped mid-instance", reason: -1, run: func(t *testing.T, rc *rawConn) {
			rc.associate(0)
			rc.write(pdataPDU(3, true, true, cmd))
			rc.write(pdataPDU(3, false, false, payload(1000)))
			rc.Conn.(*net.TCPConn).CloseWrite()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newMemHandler()
			srv := startServer(t, c.cfg, h)
			rc := rawDial(t, srv.addr)
			c.run(t, rc)
			if c.reason >= 0 {
				if got := rc.expectAbort(); int(got) != c.reason {
					t.Errorf("A-ABORT reason %d (%s), want %d", got, AbortReasonText(AbortSourceProvider, got), c.reason)
				}
			}
			rc.expectClosed()
			srv.stop()
			if h.count() != 0 {
				t.Errorf("%d instances committed", h.count())
			}
			if srv.Active() != 0 {
				t.Errorf("%d associations still counted", srv.Active())
			}
		})
	}
}

func TestShutdownAbortsIdleAssociations(t *testing.T) {
	h := newMemHandler()
	srv := startServer(t, Config{}, h)
	rc := rawDial(t, srv.addr)
	rc.associate(0)
	go srv.stop()
	typ, b, err := rc.expectPDU()
	if err != nil || typ != pduAbort {
		t.Fatalf("expected an A-ABORT on shutdown, got 0x%02X %v", typ, err)
	}
	_ = b
	rc.expectClosed()
}

func TestShutdownLetsInstanceFinish(t *testing.T) {
	h := newMemHandler()
	h.begun = make(chan struct{}, 1)
	srv := startServer(t, Config{}, h)
	rc := rawDial(t, srv.addr)
	rc.associate(0)
	rc.write(pdataPDU(3, true, true, storeCommand(ctImage, "7.7", 1)))
	rc.write(pdataPDU(3, false, false, payload(100)))
	<-h.begun
	stopped := make(chan struct{})
	go func() { srv.stop(); close(stopped) }()
	// Wait until the server is draining, then complete the instance.
	for !srv.draining.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	rc.write(pdataPDU(3, false, true, payload(100)))
	if rsp := rc.readResponse(); rsp.Status != dicomstatus.Success {
		t.Fatalf("status %v", rsp.Status)
	}
	if typ, _, err := rc.expectPDU(); err != nil || typ != pduAbort {
		t.Fatalf("expected an A-ABORT after the instance, got 0x%02X %v", typ, err)
	}
	<-stopped
	if h.count() != 1 {
		t.Fatalf("instance in flight not stored")
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	h := newMemHandler()
	srv := startServer(t, Config{TLS: tlsconf.Config{CertFile: certFile, KeyFile: keyFile}}, h)
	c := dial(t, srv.addr, ClientConfig{TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	if st, err := c.Echo(context.Background()); err != nil || st != dicomstatus.Success {
		t.Fatalf("Echo over TLS = %v, %v", st, err)
	}
	c.Release(context.Background())
	// A plain TCP peer gets nowhere.
	rc := rawDial(t, srv.addr)
	rc.associate2Fails(t)
}

func (c *rawConn) associate2Fails(t *testing.T) {
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: "A", CallingAE: "B", ApplicationContext: ApplicationContextName,
		Contexts: []ContextRQ{{ID: 1, AbstractSyntax: ctImage, TransferSyntaxes: []string{explicitL}}}}
	c.write(rq.Encode())
	if typ, _, err := c.expectPDU(); err == nil && typ == pduAssociateAC {
		t.Fatal("plain TCP association accepted on a TLS port")
	}
}

// selfSigned writes a self-signed certificate for localhost.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"AE title too long", Config{AETitles: []string{"ABCDEFGHIJKLMNOPQ"}}, false},
		{"AE title blank", Config{AETitles: []string{"   "}}, false},
		{"source network", Config{Sources: []Source{{AETitle: "A", Networks: []string{"10.0.0.0/33"}}}}, false},
		{"source twice", Config{Sources: []Source{{AETitle: "A"}, {AETitle: "A"}}}, false},
		{"PDU length too small", Config{MaxPDULength: 100}, false},
		{"syntax not a UID", Config{TransferSyntaxes: []string{"jpeg"}}, false},
		{"TLS files missing", Config{TLS: tlsconf.Config{CertFile: "/nonexistent"}}, false},
		{"good source", Config{Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8", "192.168.1.7"}}}}, true},
		{"fewer connections than associations", Config{MaxAssociations: 10, MaxConnections: 9}, false},
		{"reserve takes every connection", Config{MaxConnections: 40, ReservedConnections: 40,
			Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8"}}}}, false},
		{"reserve without networks", Config{ReservedConnections: 4, Sources: []Source{{AETitle: "PACS"}}}, false},
		{"reserve", Config{ReservedConnections: 4, Sources: []Source{{AETitle: "PACS", Networks: []string{"10.0.0.0/8"}}}}, true},
		{"no reserve", Config{ReservedConnections: -1}, true},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v", c.name, err)
		}
	}
}

func TestImplementationClassUIDDerivation(t *testing.T) {
	// 2.25 + first 128 bits of SHA-256("printreg implementation class").
	sum := sha256.Sum256([]byte("printreg implementation class"))
	n := new(big.Int).SetBytes(sum[:16])
	if want := "2.25." + n.String(); want != ImplementationClassUID {
		t.Fatalf("ImplementationClassUID = %s, derivation gives %s", ImplementationClassUID, want)
	}
	if len(ImplementationVersionName) > 16 {
		t.Fatal("implementation version name longer than 16")
	}
}

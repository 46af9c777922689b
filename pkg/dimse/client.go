package dimse

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/printreg/printreg/pkg/dicomstatus"
	"github.com/printreg/printreg/pkg/dicomx"
)

// ClientConfig configures Dial.
type ClientConfig struct {
	CallingAE string
	CalledAE  string
	// Contexts to propose; IDs are assigned when zero.
	Contexts []ContextRQ
	// MaxPDULength advertised to the peer (default 256 KiB).
	MaxPDULength uint32
	// TLS, when set, wraps the connection.
	TLS *tls.Config
	// Timeout bounds each network step (default 30 s).
	Timeout time.Duration
	// LocalAddr, when set, is the local address to connect from.
	LocalAddr net.Addr
}

// Client is a minimal storage SCU: it proposes contexts, sends C-ECHO and
// C-STORE one at a time, and releases. It exists for tests and tools; the
// product's senders are PACS.
type Client struct {
	conn    net.Conn
	rd      pduReader
	timeout time.Duration
	peerMax uint32
	ac      *AssociateAC
	byKey   map[[2]string]byte
	msgID   uint16
	cmdBuf  []byte
	bufs    [2][]byte // data set fragments, reused
}

// Dial connects and negotiates an association. A rejection is returned as
// an *AssociateRJ error.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	d := net.Dialer{Timeout: cfg.Timeout, LocalAddr: cfg.LocalAddr}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dimse: connecting: %w", err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(conn, cfg.TLS)
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dimse: TLS handshake: %w", err)
		}
		_ = conn.SetDeadline(time.Time{})
		conn = tc
	}
	c := &Client{conn: conn, timeout: cfg.Timeout, byKey: map[[2]string]byte{}}
	c.rd = pduReader{r: bufio.NewReader(conn), maxPData: cfg.MaxPDULength}
	rq := &AssociateRQ{ProtocolVersion: 1, CalledAE: cfg.CalledAE, CallingAE: cfg.CallingAE,
		ApplicationContext: ApplicationContextName,
		UserInfo: UserInfo{MaxLength: cfg.MaxPDULength, ImplementationClassUID: ImplementationClassUID,
			ImplementationVersion: ImplementationVersionName}}
	id := byte(1)
	for _, pc := range cfg.Contexts {
		if pc.ID == 0 {
			pc.ID = id
		}
		id = pc.ID + 2
		rq.Contexts = append(rq.Contexts, pc)
	}
	if err := c.send(rq.Encode()); err != nil {
		conn.Close()
		return nil, err
	}
	typ, length, err := c.next()
	if err != nil {
		conn.Close()
		return nil, err
	}
	body, err := c.rd.body(length)
	if err != nil {
		conn.Close()
		return nil, err
	}
	switch typ {
	case pduAssociateAC:
		ac, err := DecodeAssociateAC(body)
		if err != nil {
			conn.Close()
			return nil, err
		}
		c.ac = ac
		c.peerMax = ac.UserInfo.MaxLength
		for _, a := range ac.Contexts {
			if a.Result != ContextAccepted {
				continue
			}
			for _, pc := range rq.Contexts {
				if pc.ID == a.ID {
					if _, dup := c.byKey[[2]string{pc.AbstractSyntax, a.TransferSyntax}]; !dup {
						c.byKey[[2]string{pc.AbstractSyntax, a.TransferSyntax}] = a.ID
					}
				}
			}
		}
		return c, nil
	case pduAssociateRJ:
		conn.Close()
		return nil, &AssociateRJ{Result: body[1], Source: body[2], Reason: body[3]}
	case pduAbort:
		conn.Close()
		return nil, fmt.Errorf("dimse: %w (%s)", ErrAborted, AbortReasonText(body[2], body[3]))
	default:
		conn.Close()
		return nil, fmt.Errorf("dimse: unexpected PDU type 0x%02X in answer to the association request", typ)
	}
}

// PeerImplementation returns the peer's implementation class UID and version.
func (c *Client) PeerImplementation() (string, string) {
	return c.ac.UserInfo.ImplementationClassUID, c.ac.UserInfo.ImplementationVersion
}

// PeerMaxPDU returns the maximum PDU length the peer advertised.
func (c *Client) PeerMaxPDU() uint32 { return c.peerMax }

func (c *Client) send(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("dimse: sending: %w", err)
	}
	return nil
}

func (c *Client) next() (byte, uint32, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.rd.next()
}

// Echo sends a C-ECHO on the verification context.
func (c *Client) Echo(ctx context.Context) (dicomstatus.Code, error) {
	id, ok := c.contextFor(VerificationSOPClass, "")
	if !ok {
		return 0, errors.New("dimse: no accepted verification context")
	}
	c.msgID++
	cmd := &Command{Field: CEchoRQ, MessageID: c.msgID, AffectedSOPClassUID: VerificationSOPClass}
	if err := writeMessage(c.send, id, cmd.Encode(), true, c.peerMax); err != nil {
		return 0, err
	}
	rsp, err := c.readResponse(ctx)
	if err != nil {
		return 0, err
	}
	return rsp.Status, nil
}

func (c *Client) contextFor(abstract, ts string) (byte, bool) {
	for k, id := range c.byKey {
		if k[0] == abstract && (ts == "" || k[1] == ts) {
			return id, true
		}
	}
	return 0, false
}

// Store sends one data set (bytes without file meta, in syntax ts) and
// returns the peer's response status and comment.
func (c *Client) Store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Result, error) {
	id, ok := c.contextFor(sopClass, ts)
	if !ok {
		return Result{}, fmt.Errorf("dimse: no accepted context for the SOP class in that transfer syntax")
	}
	c.msgID++
	cmd := &Command{Field: CStoreRQ, MessageID: c.msgID, AffectedSOPClassUID: sopClass,
		AffectedSOPInstanceUID: sopInstance, HasDataSet: true}
	if err := writeMessage(c.send, id, cmd.Encode(), true, c.peerMax); err != nil {
		return Result{}, err
	}
	if err := c.streamData(id, data); err != nil {
		return Result{}, err
	}
	rsp, err := c.readResponse(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{Status: rsp.Status, Comment: rsp.ErrorComment}, nil
}

// streamData sends a data set as fragments within the peer's PDU length,
// reading one fragment ahead so the last one can be flagged. Each fragment
// is read into a buffer that leaves room for its PDU and PDV headers, so a
// P-DATA-TF goes out in one write without copying.
func (c *Client) streamData(id byte, data io.Reader) error {
	max := int(c.peerMax)
	if max == 0 || max > 1<<20 {
		max = 1 << 20
	}
	const hdr = pduHeaderLen + pdvHeaderLen
	if len(c.bufs[0]) != hdr+max-pdvHeaderLen {
		c.bufs[0] = make([]byte, hdr+max-pdvHeaderLen)
		c.bufs[1] = make([]byte, hdr+max-pdvHeaderLen)
	}
	cur, next := c.bufs[0], c.bufs[1]
	n, err := readChunk(data, cur[hdr:])
	if err != nil {
		return err
	}
	for {
		m, err := readChunk(data, next[hdr:])
		if err != nil {
			return err
		}
		last := m == 0
		if err := c.sendPDV(id, cur[:hdr+n], last); err != nil {
			return err
		}
		if last {
			return nil
		}
		cur, next, n = next, cur, m
	}
}

func readChunk(r io.Reader, b []byte) (int, error) {
	n, err := io.ReadFull(r, b)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("dimse: reading the data set: %w", err)
	}
	return n, nil
}

// sendPDV fills the PDU and PDV headers at the front of pdu (whose data
// starts after them) and sends it.
func (c *Client) sendPDV(id byte, pdu []byte, last bool) error {
	n := len(pdu) - pduHeaderLen - pdvHeaderLen
	ctl := byte(0)
	if last {
		ctl = pdvLast
	}
	pdu[0], pdu[1] = pduPData, 0
	binary.BigEndian.PutUint32(pdu[2:6], uint32(pdvHeaderLen+n))
	binary.BigEndian.PutUint32(pdu[6:10], uint32(2+n))
	pdu[10], pdu[11] = id, ctl
	return c.send(pdu)
}

// readResponse reads PDUs until a complete command set arrives.
func (c *Client) readResponse(ctx context.Context) (*Command, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		typ, length, err := c.next()
		if err != nil {
			return nil, fmt.Errorf("dimse: reading the response: %w", err)
		}
		switch typ {
		case pduPData:
			for {
				v, ok, err := c.rd.nextPDV()
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
				if !v.Command {
					if _, err := c.rd.payload(io.Discard); err != nil {
						return nil, err
					}
					continue
				}
				w := cmdWriter{b: c.cmdBuf}
				if len(w.b)+int(v.Len) > MaxCommandBytes {
					return nil, errors.New("dimse: response command set too long")
				}
				if _, err := c.rd.payload(&w); err != nil {
					return nil, err
				}
				c.cmdBuf = w.b
				if v.Last {
					cmd, err := DecodeCommand(c.cmdBuf)
					c.cmdBuf = c.cmdBuf[:0]
					if err != nil {
						return nil, err
					}
					if c.rd.left != 0 {
						// Drain the rest of this PDU.
						for {
							_, ok, err := c.rd.nextPDV()
							if err != nil {
								return nil, err
							}
							if !ok {
								break
							}
							if _, err := c.rd.payload(io.Discard); err != nil {
								return nil, err
							}
						}
					}
					return cmd, nil
				}
			}
		case pduAbort:
			b, _ := c.rd.body(length)
			reason := ""
			if len(b) == 4 {
				reason = AbortReasonText(b[2], b[3])
			}
			c.conn.Close()
			return nil, fmt.Errorf("dimse: %w (%s)", ErrAborted, reason)
		default:
			if _, err := c.rd.body(length); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("dimse: unexpected PDU type 0x%02X while waiting for a response", typ)
		}
	}
}

// Release releases the association and closes the connection.
func (c *Client) Release(ctx context.Context) error {
	defer c.conn.Close()
	if err := c.send(encodeReleaseRQ()); err != nil {
		return err
	}
	typ, length, err := c.next()
	if err != nil {
		return fmt.Errorf("dimse: waiting for the release response: %w", err)
	}
	if _, err := c.rd.body(length); err != nil {
		return err
	}
	if typ != pduReleaseRP {
		return fmt.Errorf("dimse: PDU type 0x%02X in answer to the release request", typ)
	}
	return nil
}

// Abort sends an A-ABORT and closes the connection.
func (c *Client) Abort() {
	_ = c.send(encodeAbort(AbortSourceUser, 0))
	c.conn.Close()
}

// Part10 is a Part 10 file split into what C-STORE needs.
type Part10 struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	// DataSetOffset is where the data set starts, after the file meta.
	DataSetOffset int64
}

// ReadPart10 reads the file meta of a Part 10 file.
func ReadPart10(r io.ReaderAt, size int64) (*Part10, error) {
	var head [132 + 12]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("dimse: reading the file header: %w", err)
	}
	if string(head[128:132]) != "DICM" {
		return nil, errors.New("dimse: not a Part 10 file (no DICM prefix)")
	}
	if binary.LittleEndian.Uint32(head[132:136]) != 0x00000002 || string(head[136:138]) != "UL" {
		return nil, errors.New("dimse: file meta does not start with its group length")
	}
	gl := int64(binary.LittleEndian.Uint32(head[140:144]))
	off := int64(len(head)) + gl
	if off > size {
		return nil, errors.New("dimse: file meta group length overruns the file")
	}
	rd, err := dicomx.NewReader(io.NewSectionReader(r, 0, off), off, dicomx.Options{})
	if err != nil {
		return nil, fmt.Errorf("dimse: reading the file meta: %w", err)
	}
	m := rd.Meta()
	p := &Part10{SOPClassUID: m.Str(dicomx.TagMediaStorageSOPClassUID), SOPInstanceUID: m.Str(dicomx.TagMediaStorageSOPInstanceUID),
		TransferSyntaxUID: m.Str(dicomx.TagTransferSyntaxUID), DataSetOffset: off}
	if p.SOPClassUID == "" || p.SOPInstanceUID == "" || p.TransferSyntaxUID == "" {
		return nil, errors.New("dimse: file meta lacks the SOP class, instance or transfer syntax")
	}
	return p, nil
}

// StoreFile sends a Part 10 file's data set as it is in the file.
func (c *Client) StoreFile(ctx context.Context, path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	p, err := ReadPart10(f, st.Size())
	if err != nil {
		return Result{}, err
	}
	return c.Store(ctx, p.SOPClassUID, p.SOPInstanceUID, p.TransferSyntaxUID,
		io.NewSectionReader(f, p.DataSetOffset, st.Size()-p.DataSetOffset))
}

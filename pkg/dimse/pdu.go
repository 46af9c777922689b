package dimse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// PDU types of PS3.8 9.3.1.
const (
	pduAssociateRQ byte = 0x01
	pduAssociateAC byte = 0x02
	pduAssociateRJ byte = 0x03
	pduPData       byte = 0x04
	pduReleaseRQ   byte = 0x05
	pduReleaseRP   byte = 0x06
	pduAbort       byte = 0x07
)

// Item types of the A-ASSOCIATE PDUs (PS3.8 9.3.2, 9.3.3, Annex D).
const (
	itemAppContext     byte = 0x10
	itemPresContextRQ  byte = 0x20
	itemPresContextAC  byte = 0x21
	itemAbstractSyntax byte = 0x30
	itemTransferSyntax byte = 0x40
	itemUserInfo       byte = 0x50
	itemMaxLength      byte = 0x51
	itemImplClassUID   byte = 0x52
	itemAsyncOps       byte = 0x53
	itemRoleSelection  byte = 0x54
	itemImplVersion    byte = 0x55
	itemUserIdentityRQ byte = 0x58
	itemUserIdentityAC byte = 0x59
)

// ApplicationContextName is the DICOM application context (PS3.7 A.2.1).
const ApplicationContextName = "1.2.840.10008.3.1.1.1"

// Limits on what the parser accepts, so that no length field drives an
// allocation larger than these.
const (
	// MaxAssociatePDU bounds an A-ASSOCIATE-RQ/AC body. Real requests with
	// a hundred contexts are a few tens of kilobytes.
	MaxAssociatePDU = 256 << 10
	// MaxContexts is the most presentation contexts a request may carry
	// (context IDs are odd numbers 1–255).
	MaxContexts = 128
	// maxSyntaxesPerContext bounds transfer syntaxes proposed in one context.
	maxSyntaxesPerContext = 64
	// maxUIDLen is the PS3.5 limit on a UID.
	maxUIDLen = 64
	// maxRoles bounds SCP/SCU role selection items.
	maxRoles = MaxContexts
	// MinPDULength is the smallest maximum PDU length the server advertises
	// or honours for a peer; below this fragmentation overhead dominates.
	MinPDULength = 4096
)

// Abort sources and reasons (PS3.8 Table 9-26).
const (
	AbortSourceUser     byte = 0
	AbortSourceProvider byte = 2

	AbortReasonNotSpecified      byte = 0
	AbortReasonUnrecognizedPDU   byte = 1
	AbortReasonUnexpectedPDU     byte = 2
	AbortReasonUnrecognizedParam byte = 4
	AbortReasonUnexpectedParam   byte = 5
	AbortReasonInvalidParamValue byte = 6
)

// A-ASSOCIATE-RJ result, source and reason (PS3.8 Table 9-21).
const (
	RejectPermanent byte = 1
	RejectTransient byte = 2

	RejectSourceUser         byte = 1 // DICOM UL service-user
	RejectSourceACSE         byte = 2 // service-provider, ACSE related function
	RejectSourcePresentation byte = 3 // service-provider, presentation related function

	// Reasons when the source is the service-user.
	RejectNoReason              byte = 1
	RejectAppContextUnsupported byte = 2
	RejectCallingAE             byte = 3
	RejectCalledAE              byte = 7
	// Reason when the source is the ACSE provider.
	RejectProtocolVersion byte = 2
	// Reasons when the source is the presentation provider.
	RejectTemporaryCongestion byte = 1
	RejectLocalLimitExceeded  byte = 2
)

// Presentation context results (PS3.8 Table 9-18).
const (
	ContextAccepted                  byte = 0
	ContextUserRejection             byte = 1
	ContextNoReason                  byte = 2
	ContextAbstractSyntaxUnsupported byte = 3
	ContextTransferSyntaxUnsupported byte = 4
)

// ProtocolError is a violation of PS3.8 by the peer: the association is
// aborted with Reason. It never carries values read from the peer beyond
// numbers and sizes.
type ProtocolError struct {
	Reason byte // A-ABORT reason to send
	Msg    string
}

func (e *ProtocolError) Error() string { return "dicom upper layer: " + e.Msg }

func protoErr(reason byte, format string, args ...any) error {
	return &ProtocolError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// ErrAborted is returned when the peer aborted the association.
var ErrAborted = errors.New("association aborted by the peer")

// AssociateRQ is an A-ASSOCIATE-RQ PDU.
type AssociateRQ struct {
	ProtocolVersion    uint16
	CalledAE           string
	CallingAE          string
	ApplicationContext string
	Contexts           []ContextRQ
	UserInfo           UserInfo
}

// ContextRQ is a proposed presentation context.
type ContextRQ struct {
	ID               byte
	AbstractSyntax   string
	TransferSyntaxes []string
}

// AssociateAC is an A-ASSOCIATE-AC PDU.
type AssociateAC struct {
	ProtocolVersion    uint16
	CalledAE           string
	CallingAE          string
	ApplicationContext string
	Contexts           []ContextAC
	UserInfo           UserInfo
}

// ContextAC is the answer to one proposed presentation context.
type ContextAC struct {
	ID             byte
	Result         byte
	TransferSyntax string
}

// AssociateRJ is an A-ASSOCIATE-RJ PDU.
type AssociateRJ struct {
	Result, Source, Reason byte
}

// RoleSelection is an SCP/SCU role selection sub-item (PS3.7 D.3.3.4).
type RoleSelection struct {
	SOPClassUID string
	SCU, SCP    bool
}

// UserInfo holds the user information sub-items the server understands.
// Other sub-items (extended negotiation) are skipped, which PS3.7 D.3.3
// reads as "not supported".
type UserInfo struct {
	// MaxLength is the largest P-DATA-TF variable field the sender accepts
	// (0: no limit).
	MaxLength              uint32
	ImplementationClassUID string
	ImplementationVersion  string
	// AsyncOps is set when the asynchronous operations window was offered.
	AsyncOps *[2]uint16
	Roles    []RoleSelection
	// UserIdentityType is non-zero when a user identity was offered; the
	// credentials themselves are not kept.
	UserIdentityType byte
}

func (e *AssociateRJ) Error() string {
	return fmt.Sprintf("association rejected (result %d, source %d, reason %d): %s",
		e.Result, e.Source, e.Reason, RejectReasonText(e.Source, e.Reason))
}

// RejectReasonText names an A-ASSOCIATE-RJ reason in words.
func RejectReasonText(source, reason byte) string {
	switch source {
	case RejectSourceUser:
		switch reason {
		case RejectNoReason:
			return "no reason given"
		case RejectAppContextUnsupported:
			return "application context name not supported"
		case RejectCallingAE:
			return "calling AE title not recognized"
		case RejectCalledAE:
			return "called AE title not recognized"
		}
	case RejectSourceACSE:
		switch reason {
		case RejectNoReason:
			return "no reason given"
		case RejectProtocolVersion:
			return "protocol version not supported"
		}
	case RejectSourcePresentation:
		switch reason {
		case RejectTemporaryCongestion:
			return "temporary congestion"
		case RejectLocalLimitExceeded:
			return "local limit exceeded"
		}
	}
	return "reserved reason"
}

// AbortReasonText names an A-ABORT reason in words.
func AbortReasonText(source, reason byte) string {
	if source != AbortSourceProvider {
		return "aborted by the service user"
	}
	switch reason {
	case AbortReasonNotSpecified:
		return "reason not specified"
	case AbortReasonUnrecognizedPDU:
		return "unrecognized PDU"
	case AbortReasonUnexpectedPDU:
		return "unexpected PDU"
	case AbortReasonUnrecognizedParam:
		return "unrecognized PDU parameter"
	case AbortReasonUnexpectedParam:
		return "unexpected PDU parameter"
	case AbortReasonInvalidParamValue:
		return "invalid PDU parameter value"
	}
	return "reserved reason"
}

// ---- decoding ----

// item is one variable item: type and value.
type item struct {
	typ byte
	val []byte
}

// splitItems splits a run of items (type, reserved, 2-byte length, value),
// checking every length against the bytes that remain.
func splitItems(b []byte, what string, max int) ([]item, error) {
	var out []item
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, protoErr(AbortReasonInvalidParamValue, "%s: truncated item header", what)
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			return nil, protoErr(AbortReasonInvalidParamValue, "%s: item of %d bytes overruns the PDU", what, n)
		}
		if len(out) >= max {
			return nil, protoErr(AbortReasonInvalidParamValue, "%s: more than %d items", what, max)
		}
		out = append(out, item{typ: b[0], val: b[4 : 4+n]})
		b = b[4+n:]
	}
	return out, nil
}

// uidValue reads a UID item value: trailing NUL or space padding (which
// some implementations send) is dropped.
func uidValue(b []byte, what string) (string, error) {
	b = bytes.TrimRight(b, "\x00 ")
	if len(b) == 0 {
		return "", protoErr(AbortReasonInvalidParamValue, "%s: empty UID", what)
	}
	if len(b) > maxUIDLen {
		return "", protoErr(AbortReasonInvalidParamValue, "%s: UID of %d bytes is longer than 64", what, len(b))
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return "", protoErr(AbortReasonInvalidParamValue, "%s: UID holds a non-printable byte", what)
		}
	}
	return string(b), nil
}

// aeTitle reads a 16-byte AE title field: leading and trailing spaces are
// not significant (PS3.5 6.2, AE).
func aeTitle(b []byte) string {
	return strings.Trim(string(bytes.TrimRight(b, "\x00")), " ")
}

// associateFixed is the length of the fixed part of A-ASSOCIATE-RQ/AC.
const associateFixed = 2 + 2 + 16 + 16 + 32

// DecodeAssociateRQ decodes the body (after the 6-byte PDU header) of an
// A-ASSOCIATE-RQ.
func DecodeAssociateRQ(body []byte) (*AssociateRQ, error) {
	if len(body) < associateFixed {
		return nil, protoErr(AbortReasonInvalidParamValue, "A-ASSOCIATE-RQ of %d bytes is shorter than its fixed part", len(body))
	}
	rq := &AssociateRQ{
		ProtocolVersion: binary.BigEndian.Uint16(body[0:2]),
		CalledAE:        aeTitle(body[4:20]),
		CallingAE:       aeTitle(body[20:36]),
	}
	items, err := splitItems(body[associateFixed:], "A-ASSOCIATE-RQ", 2+MaxContexts+8)
	if err != nil {
		return nil, err
	}
	seen := map[byte]bool{}
	for _, it := range items {
		switch it.typ {
		case itemAppContext:
			if rq.ApplicationContext != "" {
				return nil, protoErr(AbortReasonUnexpectedParam, "A-ASSOCIATE-RQ: two application context items")
			}
			if rq.ApplicationContext, err = uidValue(it.val, "application context"); err != nil {
				return nil, err
			}
		case itemPresContextRQ:
			pc, err := decodeContextRQ(it.val)
			if err != nil {
				return nil, err
			}
			if seen[pc.ID] {
				return nil, protoErr(AbortReasonInvalidParamValue, "presentation context %d proposed twice", pc.ID)
			}
			seen[pc.ID] = true
			rq.Contexts = append(rq.Contexts, pc)
		case itemUserInfo:
			if rq.UserInfo, err = decodeUserInfo(it.val); err != nil {
				return nil, err
			}
		default:
			return nil, protoErr(AbortReasonUnrecognizedParam, "A-ASSOCIATE-RQ: unknown item type 0x%02X", it.typ)
		}
	}
	if rq.ApplicationContext == "" {
		return nil, protoErr(AbortReasonInvalidParamValue, "A-ASSOCIATE-RQ without an application context")
	}
	if len(rq.Contexts) == 0 {
		return nil, protoErr(AbortReasonInvalidParamValue, "A-ASSOCIATE-RQ without presentation contexts")
	}
	return rq, nil
}

func decodeContextRQ(b []byte) (ContextRQ, error) {
	var pc ContextRQ
	if len(b) < 4 {
		return pc, protoErr(AbortReasonInvalidParamValue, "presentation context item of %d bytes is too short", len(b))
	}
	pc.ID = b[0]
	if pc.ID%2 == 0 {
		return pc, protoErr(AbortReasonInvalidParamValue, "presentation context ID %d is even", pc.ID)
	}
	subs, err := splitItems(b[4:], "presentation context", 1+maxSyntaxesPerContext)
	if err != nil {
		return pc, err
	}
	for _, s := range subs {
		switch s.typ {
		case itemAbstractSyntax:
			if pc.AbstractSyntax != "" {
				return pc, protoErr(AbortReasonUnexpectedParam, "presentation context %d has two abstract syntaxes", pc.ID)
			}
			if pc.AbstractSyntax, err = uidValue(s.val, "abstract syntax"); err != nil {
				return pc, err
			}
		case itemTransferSyntax:
			ts, err := uidValue(s.val, "transfer syntax")
			if err != nil {
				return pc, err
			}
			pc.TransferSyntaxes = append(pc.TransferSyntaxes, ts)
		default:
			return pc, protoErr(AbortReasonUnrecognizedParam, "presentation context %d: unknown sub-item 0x%02X", pc.ID, s.typ)
		}
	}
	if pc.AbstractSyntax == "" || len(pc.TransferSyntaxes) == 0 {
		return pc, protoErr(AbortReasonInvalidParamValue, "presentation context %d lacks an abstract or transfer syntax", pc.ID)
	}
	return pc, nil
}

func decodeUserInfo(b []byte) (UserInfo, error) {
	var ui UserInfo
	subs, err := splitItems(b, "user information", maxRoles+16)
	if err != nil {
		return ui, err
	}
	for _, s := range subs {
		switch s.typ {
		case itemMaxLength:
			if len(s.val) != 4 {
				return ui, protoErr(AbortReasonInvalidParamValue, "maximum length item of %d bytes", len(s.val))
			}
			ui.MaxLength = binary.BigEndian.Uint32(s.val)
		case itemImplClassUID:
			if ui.ImplementationClassUID, err = uidValue(s.val, "implementation class UID"); err != nil {
				return ui, err
			}
		case itemImplVersion:
			v := bytes.TrimRight(s.val, "\x00 ")
			if len(v) > 16 {
				v = v[:16]
			}
			ui.ImplementationVersion = strings.Map(printable, string(v))
		case itemAsyncOps:
			if len(s.val) != 4 {
				return ui, protoErr(AbortReasonInvalidParamValue, "asynchronous operations window item of %d bytes", len(s.val))
			}
			ui.AsyncOps = &[2]uint16{binary.BigEndian.Uint16(s.val[0:2]), binary.BigEndian.Uint16(s.val[2:4])}
		case itemRoleSelection:
			if len(s.val) < 2 {
				return ui, protoErr(AbortReasonInvalidParamValue, "role selection item too short")
			}
			n := int(binary.BigEndian.Uint16(s.val[0:2]))
			if len(s.val) != 2+n+2 {
				return ui, protoErr(AbortReasonInvalidParamValue, "role selection item length does not match its UID length")
			}
			uid, err := uidValue(s.val[2:2+n], "role selection")
			if err != nil {
				return ui, err
			}
			ui.Roles = append(ui.Roles, RoleSelection{SOPClassUID: uid, SCU: s.val[2+n] == 1, SCP: s.val[3+n] == 1})
		case itemUserIdentityRQ:
			if len(s.val) < 1 {
				return ui, protoErr(AbortReasonInvalidParamValue, "user identity item too short")
			}
			ui.UserIdentityType = s.val[0]
		default:
			// Extended negotiation and future sub-items: not supported,
			// which the standard says to signal by not answering them.
		}
	}
	return ui, nil
}

func printable(r rune) rune {
	if r < 0x20 || r > 0x7e {
		return '?'
	}
	return r
}

// DecodeAssociateAC decodes the body of an A-ASSOCIATE-AC.
func DecodeAssociateAC(body []byte) (*AssociateAC, error) {
	if len(body) < associateFixed {
		return nil, protoErr(AbortReasonInvalidParamValue, "A-ASSOCIATE-AC of %d bytes is shorter than its fixed part", len(body))
	}
	ac := &AssociateAC{
		ProtocolVersion: binary.BigEndian.Uint16(body[0:2]),
		CalledAE:        aeTitle(body[4:20]),
		CallingAE:       aeTitle(body[20:36]),
	}
	items, err := splitItems(body[associateFixed:], "A-ASSOCIATE-AC", 2+MaxContexts+8)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		switch it.typ {
		case itemAppContext:
			if ac.ApplicationContext, err = uidValue(it.val, "application context"); err != nil {
				return nil, err
			}
		case itemPresContextAC:
			if len(it.val) < 4 {
				return nil, protoErr(AbortReasonInvalidParamValue, "presentation context answer too short")
			}
			pc := ContextAC{ID: it.val[0], Result: it.val[2]}
			subs, err := splitItems(it.val[4:], "presentation context answer", 1)
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				if s.typ != itemTransferSyntax {
					return nil, protoErr(AbortReasonUnrecognizedParam, "presentation context answer: unknown sub-item 0x%02X", s.typ)
				}
				// A rejected context may carry an empty transfer syntax.
				if pc.Result == ContextAccepted {
					if pc.TransferSyntax, err = uidValue(s.val, "transfer syntax"); err != nil {
						return nil, err
					}
				}
			}
			if pc.Result == ContextAccepted && pc.TransferSyntax == "" {
				return nil, protoErr(AbortReasonInvalidParamValue, "accepted presentation context %d without a transfer syntax", pc.ID)
			}
			ac.Contexts = append(ac.Contexts, pc)
		case itemUserInfo:
			if ac.UserInfo, err = decodeUserInfo(it.val); err != nil {
				return nil, err
			}
		default:
			return nil, protoErr(AbortReasonUnrecognizedParam, "A-ASSOCIATE-AC: unknown item type 0x%02X", it.typ)
		}
	}
	return ac, nil
}

// ---- encoding ----

func appendItem(b []byte, typ byte, val []byte) []byte {
	b = append(b, typ, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	return append(b, val...)
}

func appendAE(b []byte, ae string) []byte {
	var f [16]byte
	for i := range f {
		f[i] = ' '
	}
	copy(f[:], ae)
	return append(b, f[:]...)
}

func appendUserInfo(b []byte, ui UserInfo) []byte {
	var sub []byte
	sub = appendItem(sub, itemMaxLength, binary.BigEndian.AppendUint32(nil, ui.MaxLength))
	if ui.ImplementationClassUID != "" {
		sub = appendItem(sub, itemImplClassUID, []byte(ui.ImplementationClassUID))
	}
	if ui.AsyncOps != nil {
		v := binary.BigEndian.AppendUint16(nil, ui.AsyncOps[0])
		sub = appendItem(sub, itemAsyncOps, binary.BigEndian.AppendUint16(v, ui.AsyncOps[1]))
	}
	for _, r := range ui.Roles {
		v := binary.BigEndian.AppendUint16(nil, uint16(len(r.SOPClassUID)))
		v = append(v, r.SOPClassUID...)
		v = append(v, b2u(r.SCU), b2u(r.SCP))
		sub = appendItem(sub, itemRoleSelection, v)
	}
	if ui.ImplementationVersion != "" {
		sub = appendItem(sub, itemImplVersion, []byte(ui.ImplementationVersion))
	}
	return appendItem(b, itemUserInfo, sub)
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendPDU(b []byte, typ byte, body []byte) []byte {
	b = append(b, typ, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// Encode returns the whole A-ASSOCIATE-RQ PDU.
func (rq *AssociateRQ) Encode() []byte {
	body := binary.BigEndian.AppendUint16(nil, rq.ProtocolVersion)
	body = append(body, 0, 0)
	body = appendAE(body, rq.CalledAE)
	body = appendAE(body, rq.CallingAE)
	body = append(body, make([]byte, 32)...)
	body = appendItem(body, itemAppContext, []byte(rq.ApplicationContext))
	for _, pc := range rq.Contexts {
		var v []byte
		v = append(v, pc.ID, 0, 0, 0)
		v = appendItem(v, itemAbstractSyntax, []byte(pc.AbstractSyntax))
		for _, ts := range pc.TransferSyntaxes {
			v = appendItem(v, itemTransferSyntax, []byte(ts))
		}
		body = appendItem(body, itemPresContextRQ, v)
	}
	body = appendUserInfo(body, rq.UserInfo)
	return appendPDU(nil, pduAssociateRQ, body)
}

// Encode returns the whole A-ASSOCIATE-AC PDU.
func (ac *AssociateAC) Encode() []byte {
	body := binary.BigEndian.AppendUint16(nil, ac.ProtocolVersion)
	body = append(body, 0, 0)
	body = appendAE(body, ac.CalledAE)
	body = appendAE(body, ac.CallingAE)
	body = append(body, make([]byte, 32)...)
	body = appendItem(body, itemAppContext, []byte(ac.ApplicationContext))
	for _, pc := range ac.Contexts {
		v := []byte{pc.ID, 0, pc.Result, 0}
		// PS3.8 9.3.3.2: the transfer syntax sub-item is present but not
		// significant when the context is rejected.
		v = appendItem(v, itemTransferSyntax, []byte(pc.TransferSyntax))
		body = appendItem(body, itemPresContextAC, v)
	}
	body = appendUserInfo(body, ac.UserInfo)
	return appendPDU(nil, pduAssociateAC, body)
}

// Encode returns the whole A-ASSOCIATE-RJ PDU.
func (rj *AssociateRJ) Encode() []byte {
	return appendPDU(nil, pduAssociateRJ, []byte{0, rj.Result, rj.Source, rj.Reason})
}

func encodeAbort(source, reason byte) []byte {
	return appendPDU(nil, pduAbort, []byte{0, 0, source, reason})
}

func encodeReleaseRQ() []byte { return appendPDU(nil, pduReleaseRQ, []byte{0, 0, 0, 0}) }
func encodeReleaseRP() []byte { return appendPDU(nil, pduReleaseRP, []byte{0, 0, 0, 0}) }

// ---- stream reading ----

// pduHeaderLen is the fixed PDU header: type, reserved, 4-byte length.
const pduHeaderLen = 6

// pdvHeaderLen is a PDV item header: 4-byte length, context ID, control.
const pdvHeaderLen = 6

// PDV message control header bits (PS3.8 E.2).
const (
	pdvCommand byte = 0x01
	pdvLast    byte = 0x02
)

// pdv describes one presentation data value item; its payload is read
// from the stream separately.
type pdv struct {
	ContextID byte
	Command   bool
	Last      bool
	Len       uint32 // payload bytes
}

// pduReader reads PDUs from a byte stream. P-DATA-TF PDUs are not loaded:
// their PDVs are handed out one at a time and their payload is read by the
// caller straight from the stream, so memory does not grow with the PDU
// length the peer uses.
type pduReader struct {
	r        io.Reader
	maxPData uint32 // largest P-DATA-TF variable field accepted
	hdr      [pduHeaderLen]byte
	left     uint32 // bytes of the current P-DATA-TF not yet consumed
	pdvLeft  uint32 // payload bytes of the current PDV not yet consumed
	buf      []byte // copy buffer, allocated once
}

// next reads the next PDU header. For a P-DATA-TF the PDVs are then read
// with nextPDV; for any other type the body with body. The previous
// P-DATA-TF must have been consumed.
func (p *pduReader) next() (typ byte, length uint32, err error) {
	if p.left != 0 || p.pdvLeft != 0 {
		return 0, 0, errors.New("dicom upper layer: previous PDU not consumed")
	}
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return 0, 0, err
	}
	typ = p.hdr[0]
	length = binary.BigEndian.Uint32(p.hdr[2:6])
	switch typ {
	case pduPData:
		if p.maxPData != 0 && length > p.maxPData {
			return typ, length, protoErr(AbortReasonInvalidParamValue,
				"P-DATA-TF of %d bytes exceeds the negotiated maximum of %d", length, p.maxPData)
		}
		if length < pdvHeaderLen {
			return typ, length, protoErr(AbortReasonInvalidParamValue, "P-DATA-TF of %d bytes holds no PDV", length)
		}
		p.left = length
	case pduAssociateRQ, pduAssociateAC:
		if length > MaxAssociatePDU {
			return typ, length, protoErr(AbortReasonInvalidParamValue, "association PDU of %d bytes exceeds %d", length, MaxAssociatePDU)
		}
	case pduAssociateRJ, pduReleaseRQ, pduReleaseRP, pduAbort:
		if length != 4 {
			return typ, length, protoErr(AbortReasonInvalidParamValue, "PDU type 0x%02X with length %d, not 4", typ, length)
		}
	default:
		return typ, length, protoErr(AbortReasonUnrecognizedPDU, "unknown PDU type 0x%02X", typ)
	}
	return typ, length, nil
}

// body reads a whole non-data PDU body of length bytes (already bounded by
// next).
func (p *pduReader) body(length uint32) ([]byte, error) {
	b := make([]byte, length)
	if _, err := io.ReadFull(p.r, b); err != nil {
		return nil, fmt.Errorf("dicom upper layer: PDU body: %w", unexpected(err))
	}
	return b, nil
}

// nextPDV reads the header of the next PDV of the current P-DATA-TF; ok is
// false when the PDU is exhausted. The previous PDV's payload must have been
// consumed with payload.
func (p *pduReader) nextPDV() (v pdv, ok bool, err error) {
	if p.pdvLeft != 0 {
		return v, false, errors.New("dicom upper layer: previous PDV not consumed")
	}
	if p.left == 0 {
		return v, false, nil
	}
	if p.left < pdvHeaderLen {
		return v, false, protoErr(AbortReasonInvalidParamValue, "P-DATA-TF ends inside a PDV header")
	}
	var h [pdvHeaderLen]byte
	if _, err := io.ReadFull(p.r, h[:]); err != nil {
		return v, false, fmt.Errorf("dicom upper layer: PDV header: %w", unexpected(err))
	}
	p.left -= pdvHeaderLen
	n := binary.BigEndian.Uint32(h[0:4])
	if n < 2 {
		return v, false, protoErr(AbortReasonInvalidParamValue, "PDV item length %d is shorter than its header", n)
	}
	if n-2 > p.left {
		return v, false, protoErr(AbortReasonInvalidParamValue, "PDV of %d bytes overruns its P-DATA-TF", n)
	}
	if h[5]&^(pdvCommand|pdvLast) != 0 {
		return v, false, protoErr(AbortReasonInvalidParamValue, "PDV message control header 0x%02X has reserved bits set", h[5])
	}
	v = pdv{ContextID: h[4], Command: h[5]&pdvCommand != 0, Last: h[5]&pdvLast != 0, Len: n - 2}
	p.pdvLeft = v.Len
	p.left -= v.Len
	return v, true, nil
}

// payload copies the current PDV's payload to w (io.Discard to drop it).
// When w fails, the payload is still consumed from the stream so the
// association stays in step, and the write error is returned as werr.
func (p *pduReader) payload(w io.Writer) (werr, err error) {
	n := int64(p.pdvLeft)
	p.pdvLeft = 0
	if n == 0 {
		return nil, nil
	}
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	rw := recWriter{w: w}
	written, cerr := io.CopyBuffer(&rw, io.LimitReader(p.r, n), p.buf)
	if rw.err != nil {
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(p.r, n-written), p.buf); err != nil {
			return rw.err, fmt.Errorf("dicom upper layer: PDV payload: %w", unexpected(err))
		}
		return rw.err, nil
	}
	if cerr == nil && written < n {
		cerr = io.ErrUnexpectedEOF
	}
	if cerr != nil {
		return nil, fmt.Errorf("dicom upper layer: PDV payload: %w", unexpected(cerr))
	}
	return nil, nil
}

// recWriter remembers the error of the writer it wraps, so that a failing
// sink is told apart from a failing connection.
type recWriter struct {
	w   io.Writer
	err error
}

func (rw *recWriter) Write(b []byte) (int, error) {
	n, err := rw.w.Write(b)
	if err != nil && rw.err == nil {
		rw.err = err
	}
	return n, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

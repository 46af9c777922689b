package dimse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/printreg/printreg/pkg/dicomstatus"
)

// Command fields (PS3.7 E.1).
const (
	CStoreRQ  uint16 = 0x0001
	CStoreRSP uint16 = 0x8001
	CGetRQ    uint16 = 0x0010
	CFindRQ   uint16 = 0x0020
	CMoveRQ   uint16 = 0x0021
	CEchoRQ   uint16 = 0x0030
	CEchoRSP  uint16 = 0x8030
	CCancelRQ uint16 = 0x0FFF
)

// CommandDataSetType value meaning "no data set follows" (PS3.7 E.1).
const noDataSet uint16 = 0x0101

// Command element numbers (group 0000).
const (
	elGroupLength           uint16 = 0x0000
	elAffectedSOPClassUID   uint16 = 0x0002
	elRequestedSOPClassUID  uint16 = 0x0003
	elCommandField          uint16 = 0x0100
	elMessageID             uint16 = 0x0110
	elMessageIDRespondedTo  uint16 = 0x0120
	elMoveDestination       uint16 = 0x0600
	elPriority              uint16 = 0x0700
	elCommandDataSetType    uint16 = 0x0800
	elStatus                uint16 = 0x0900
	elOffendingElement      uint16 = 0x0901
	elErrorComment          uint16 = 0x0902
	elAffectedSOPInstUID    uint16 = 0x1000
	elRequestedSOPInstUID   uint16 = 0x1001
	elMoveOriginatorAE      uint16 = 0x1030
	elMoveOriginatorMessage uint16 = 0x1031
)

// MaxCommandBytes bounds a command set; real ones are a few hundred bytes.
const MaxCommandBytes = 16 << 10

// maxCommandElements bounds the elements of one command set.
const maxCommandElements = 64

// Command is a DIMSE command set: the fields the server reads or writes.
type Command struct {
	Field                   uint16
	MessageID               uint16
	MessageIDRespondedTo    uint16
	AffectedSOPClassUID     string
	AffectedSOPInstanceUID  string
	Priority                uint16
	HasDataSet              bool
	Status                  dicomstatus.Code
	ErrorComment            string
	MoveOriginatorAE        string
	MoveOriginatorMessageID uint16
}

// DecodeCommand parses a command set: implicit VR little endian elements of
// group 0000 in ascending order (PS3.7 6.3.1). Unknown command elements are
// skipped.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > MaxCommandBytes {
		return nil, fmt.Errorf("dimse: command set of %d bytes exceeds %d", len(b), MaxCommandBytes)
	}
	c := &Command{}
	var last int32 = -1
	var have struct{ field, dsType bool }
	count := 0
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("dimse: command set ends inside an element header")
		}
		group := binary.LittleEndian.Uint16(b[0:2])
		el := binary.LittleEndian.Uint16(b[2:4])
		n := binary.LittleEndian.Uint32(b[4:8])
		if group != 0x0000 {
			return nil, fmt.Errorf("dimse: command set holds an element of group %04X", group)
		}
		if int32(el) <= last {
			return nil, fmt.Errorf("dimse: command elements out of order at (0000,%04X)", el)
		}
		last = int32(el)
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("dimse: command element (0000,%04X) of %d bytes overruns the command set", el, n)
		}
		count++
		if count > maxCommandElements {
			return nil, fmt.Errorf("dimse: command set has more than %d elements", maxCommandElements)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		var err error
		switch el {
		case elAffectedSOPClassUID:
			c.AffectedSOPClassUID, err = cmdUID(v, el)
		case elAffectedSOPInstUID:
			c.AffectedSOPInstanceUID, err = cmdUID(v, el)
		case elCommandField:
			c.Field, err = cmdUS(v, el)
			have.field = true
		case elMessageID:
			c.MessageID, err = cmdUS(v, el)
		case elMessageIDRespondedTo:
			c.MessageIDRespondedTo, err = cmdUS(v, el)
		case elPriority:
			c.Priority, err = cmdUS(v, el)
		case elCommandDataSetType:
			var t uint16
			t, err = cmdUS(v, el)
			c.HasDataSet = t != noDataSet
			have.dsType = true
		case elStatus:
			var s uint16
			s, err = cmdUS(v, el)
			c.Status = dicomstatus.Code(s)
		case elErrorComment:
			c.ErrorComment = strings.Map(printable, strings.TrimRight(string(v), " \x00"))
		case elMoveOriginatorAE:
			c.MoveOriginatorAE = strings.Map(printable, strings.Trim(string(v), " \x00"))
		case elMoveOriginatorMessage:
			c.MoveOriginatorMessageID, err = cmdUS(v, el)
		}
		if err != nil {
			return nil, err
		}
	}
	if !have.field {
		return nil, fmt.Errorf("dimse: command set without a command field")
	}
	if !have.dsType {
		return nil, fmt.Errorf("dimse: command set without a data set type")
	}
	return c, nil
}

func cmdUS(v []byte, el uint16) (uint16, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("dimse: command element (0000,%04X) has %d bytes, not 2", el, len(v))
	}
	return binary.LittleEndian.Uint16(v), nil
}

func cmdUID(v []byte, el uint16) (string, error) {
	v = bytes.TrimRight(v, "\x00 ")
	if len(v) > maxUIDLen {
		return "", fmt.Errorf("dimse: UID in (0000,%04X) is longer than 64 bytes", el)
	}
	for _, c := range v {
		if (c < '0' || c > '9') && c != '.' {
			return "", fmt.Errorf("dimse: UID in (0000,%04X) holds a character other than digits and dots", el)
		}
	}
	return string(v), nil
}

// Encode returns the command set in implicit VR little endian with its
// group length.
func (c *Command) Encode() []byte {
	var body []byte
	put := func(el uint16, v []byte) {
		if len(v)%2 == 1 {
			v = append(v[:len(v):len(v)], 0)
		}
		body = binary.LittleEndian.AppendUint16(body, 0)
		body = binary.LittleEndian.AppendUint16(body, el)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(v)))
		body = append(body, v...)
	}
	us := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	text := func(s string) []byte {
		b := []byte(s)
		if len(b)%2 == 1 {
			b = append(b, ' ')
		}
		return b
	}
	if c.AffectedSOPClassUID != "" {
		put(elAffectedSOPClassUID, []byte(c.AffectedSOPClassUID))
	}
	put(elCommandField, us(c.Field))
	if c.Field&0x8000 == 0 {
		put(elMessageID, us(c.MessageID))
	} else {
		put(elMessageIDRespondedTo, us(c.MessageIDRespondedTo))
	}
	if c.Field == CStoreRQ {
		put(elPriority, us(c.Priority))
	}
	dsType := noDataSet
	if c.HasDataSet {
		dsType = 0x0000
	}
	put(elCommandDataSetType, us(dsType))
	if c.Field&0x8000 != 0 {
		put(elStatus, us(uint16(c.Status)))
		if c.ErrorComment != "" {
			ec := c.ErrorComment
			if len(ec) > 64 {
				ec = ec[:64]
			}
			put(elErrorComment, text(ec))
		}
	}
	if c.AffectedSOPInstanceUID != "" {
		put(elAffectedSOPInstUID, []byte(c.AffectedSOPInstanceUID))
	}
	if c.MoveOriginatorAE != "" {
		put(elMoveOriginatorAE, text(c.MoveOriginatorAE))
		put(elMoveOriginatorMessage, us(c.MoveOriginatorMessageID))
	}
	out := make([]byte, 0, 12+len(body))
	out = binary.LittleEndian.AppendUint16(out, 0)
	out = binary.LittleEndian.AppendUint16(out, elGroupLength)
	out = binary.LittleEndian.AppendUint32(out, 4)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

package dicomx

import (
	"fmt"
	"io"
	"strings"
)

// Dump writes a readable listing of ds, one element per line, indented by
// nesting depth, with values shortened. It prints values: use it on
// de-identified data or in tests, never in logs.
func Dump(w io.Writer, ds *Dataset) error {
	return dump(w, ds, 0)
}

func dump(w io.Writer, ds *Dataset, depth int) error {
	ind := strings.Repeat("  ", depth)
	for _, e := range ds.Elements {
		var err error
		switch {
		case e.VR == VRSQ:
			_, err = fmt.Fprintf(w, "%s%s SQ %s (%d items)\n", ind, e.Tag, Keyword(e.Tag), len(e.Items))
			for i, item := range e.Items {
				if err == nil {
					_, err = fmt.Fprintf(w, "%s  item %d\n", ind, i+1)
				}
				if err == nil {
					err = dump(w, item, depth+2)
				}
			}
		default:
			_, err = fmt.Fprintf(w, "%s%s %s %s #%d %s\n", ind, e.Tag, e.VR, Keyword(e.Tag), e.Length, valueSummary(e))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func valueSummary(e *Element) string {
	switch {
	case e.Bulk && e.Value == nil:
		return "(bulk, not loaded)"
	case e.Encapsulated:
		return fmt.Sprintf("(encapsulated, %d bytes)", len(e.Value))
	case e.VR.IsText():
		s := strings.Join(e.Strs(), `\`)
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return fmt.Sprintf("[%s]", strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7F {
				return '.'
			}
			return r
		}, s))
	case e.VR.FixedSize() > 0 && e.VR != VRAT:
		if v, ok := e.Floats(); ok {
			if len(v) > 8 {
				return fmt.Sprintf("%v… (%d values)", v[:8], len(v))
			}
			return fmt.Sprint(v)
		}
	}
	if len(e.Value) > 16 {
		return fmt.Sprintf("%x… (%d bytes)", e.Value[:16], len(e.Value))
	}
	return fmt.Sprintf("%x", e.Value)
}

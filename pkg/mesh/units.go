package mesh

import (
	"math"
	"strings"
)

// Canonical unit names (the 3MF vocabulary). Reports always give metrics in
// millimetres; Report.Units names the unit of the file's coordinates.
const (
	Micron     = "micron"
	Millimeter = "millimeter"
	Centimeter = "centimeter"
	Meter      = "meter"
	Inch       = "inch"
	Foot       = "foot"
)

// unitScale maps a unit name (3MF names, UCUM codes as DICOM's
// MeasurementUnitsCodeSequence uses them, and common abbreviations) to its
// canonical name and its size in millimetres.
func unitScale(u string) (string, float64, bool) {
	switch strings.ToLower(strings.TrimSpace(u)) {
	case "micron", "um", "µm", "micrometer", "micrometre":
		return Micron, 0.001, true
	case "millimeter", "millimetre", "mm", "":
		return Millimeter, 1, true
	case "centimeter", "centimetre", "cm":
		return Centimeter, 10, true
	case "meter", "metre", "m":
		return Meter, 1000, true
	case "inch", "in", "[in_i]":
		return Inch, 25.4, true
	case "foot", "ft", "[ft_i]":
		return Foot, 304.8, true
	}
	return "", 0, false
}

// unitsHint guesses the real unit of a file without a unit field from the
// size of what it holds, following the clinical rule of thumb that a printed
// anatomical model measures about 10–600 mm across: a bounding-box diagonal
// under 1 mm suggests metres, under 10 mm inches, above 2,000 mm microns.
// It returns "" when the size is plausible in millimetres.
func unitsHint(diagMM float64) string {
	switch {
	case diagMM <= 0 || math.IsNaN(diagMM):
		return ""
	case diagMM < 1:
		return Meter
	case diagMM < 10:
		return Inch
	case diagMM > 2000:
		return Micron
	}
	return ""
}

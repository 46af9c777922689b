package registry

import "slices"

// Study completeness states.
const (
	StatusReceiving = "receiving" // instances are arriving; not yet quiet
	StatusStable    = "stable"    // quiet for the quiet period, or the hard cap was reached
	StatusAmended   = "amended"   // an instance arrived after the study was stable
)

// Readiness requirement names, usable in casemodel.Config.Required and reported in a
// snapshot's missing list.
const (
	ReqImaging         = "imaging"         // at least one imaging series
	ReqModel           = "model"           // at least one model or guide file
	ReqObjectType      = "lab.object_type" // case.json says model or guide
	ReqOrderingService = "lab.ordering_service"
	ReqIndication      = "lab.indication"   // an indication with visible text or an ICD-10-CM code
	ReqParts           = "lab.parts"        // anatomic parts (models) or guides (guides)
	ReqPrints          = "lab.prints"       // a print with a printer and a material
	ReqEffort          = "lab.effort"       // the effort block
	ReqIntendedUse     = "lab.intended_use" // optional requirement
	ReqProcedure       = "lab.procedure"    // optional requirement
	ReqAssessment      = "lab.assessment"   // optional requirement
	ReqSegmentation    = "segmentation"     // optional: a SEG, surface or RTSTRUCT
	ReqStable          = "imaging.stable"   // optional: every study stable
	ReqThinSlice       = "imaging.thin_slice"
)

// Operator decisions about a study of a case (casemodel.ResolutionFact.Action).
const (
	// ResolveExclude: the study does not belong to the case; it is left
	// out of the snapshot (with its segmentations and Encapsulated models)
	// and of conflict checks.
	ResolveExclude = "exclude"
	// ResolveAccept: the study belongs to the case although its patient
	// identity differs (two record numbers of one patient, say); it stays
	// and is left out of conflict checks.
	ResolveAccept = "accept"
	// ResolveReset takes back an earlier decision.
	ResolveReset = "reset"
)

// Screening rules. A refusal names the field and one of these, never the
// value.
const (
	RuleCaseIdentifier  = "case_identifier"  // matches a hashed identifier of this case
	RuleIdentityUnknown = "identity_unknown" // withheld: no imaging identifiers to check against yet
	RuleEmail           = "email"
	RulePhone           = "phone"
	RuleLongNumber      = "long_number"
	RuleDicomName       = "dicom_name"
	RuleDate            = "date"
	RuleIdentifierLabel = "identifier_label"
	RuleInvalidText     = "invalid_text"
	RuleUnreadable      = "unreadable" // stored text could not be opened with this site secret
	RuleTooLong         = "too_long"   // longer than screening covers
)

// Rejection reason codes: one vocabulary for the dead-letter stream (subject
// suffix and Printreg-Reason header), the objects metric's reason label,
// log lines, the case's rejected[].reason and change.reason, and the CLIs.
// The pipeline's codes (pkg/pipeline) are the same strings; ReasonText
// describes each. Other codes matching [a-z][a-z0-9_]* are accepted and
// passed on.
const (
	ReasonMalformed       = "malformed"         // the object cannot be parsed
	ReasonUnsupported     = "unsupported"       // not a format, or a variant of one, that printreg reads
	ReasonPHIResidue      = "phi_residue"       // identifiers found after de-identification
	ReasonBurnedInText    = "burned_in_text"    // pixel data may carry burned-in text
	ReasonInvalidSidecar  = "invalid_sidecar"   // case.json failed validation
	ReasonTooLarge        = "too_large"         // over a configured limit: the worker's size cap or a reader's limit
	ReasonNoCaseReference = "no_case_reference" // the object names no case (DLQ only: there is no case to show it in)
	ReasonInvalidKey      = "invalid_key"       // the object's key cannot name an object
	ReasonOther           = "other"             // anything else
	// Refusals that never reach a case: the object or work item is in the
	// dead-letter stream only.
	ReasonUnknownBucket    = "unknown_bucket"
	ReasonBadWork          = "bad_work_item"
	ReasonRetriesExhausted = "retries_exhausted"
	ReasonMaxDeliveries    = "max_deliveries"
)

// reasonAliases are earlier names of reason codes, read as the code they
// became: the worker's size cap was reported as over_size.
var reasonAliases = map[string]string{"over_size": ReasonTooLarge}

// reasonText is a sentence for each reason code: the detail a case shows for
// a rejection when no better one may be published.
var reasonText = map[string]string{
	ReasonMalformed:        "the object cannot be read as the format it claims to be",
	ReasonUnsupported:      "the object is not DICOM, STL, 3MF, OBJ or case.json, or a variant of one that printreg does not read",
	ReasonPHIResidue:       "identifiers were still found after de-identification",
	ReasonBurnedInText:     "the pixel data may carry burned-in text",
	ReasonInvalidSidecar:   "invalid case.json",
	ReasonTooLarge:         "the object is over a configured limit (the worker's size cap or a reader's limit)",
	ReasonNoCaseReference:  "the object names no case",
	ReasonInvalidKey:       "the object's key cannot name an object in the store",
	ReasonOther:            "the object was refused",
	ReasonUnknownBucket:    "the notification names a bucket that is not a configured raw bucket",
	ReasonBadWork:          "the work item cannot be decoded",
	ReasonRetriesExhausted: "reading or storing the object failed on every attempt",
	ReasonMaxDeliveries:    "no worker answered the work item on any delivery",
}

// ReasonText returns the sentence describing a reason code (earlier names
// included) and whether the code is one of printreg's.
func ReasonText(reason string) (string, bool) {
	t, ok := reasonText[CanonicalReason(reason)]
	return t, ok
}

// CanonicalReason returns the code a reason is known by now: an earlier
// name (over_size) reads as the code it became; any other code is returned
// as it is.
func CanonicalReason(reason string) string {
	if a, ok := reasonAliases[reason]; ok {
		return a
	}
	return reason
}

// Reasons lists printreg's reason codes.
func Reasons() []string {
	out := make([]string, 0, len(reasonText))
	for r := range reasonText {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

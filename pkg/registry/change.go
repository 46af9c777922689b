package registry

import "time"

// Change kinds (data.change.kind of an event).
const (
	KindIdentity             = "identity_linked"       // new aliases or identifiers for screening
	KindSeriesAdded          = "series_added"          // first instance of a series
	KindSeriesUpdated        = "series_updated"        // another instance, or a better summary
	KindStudyAmended         = "study_amended"         // an instance arrived after the study was stable
	KindStudyStable          = "study_stable"          // quiet period over (or hard cap reached)
	KindSegmentationAdded    = "segmentation_added"    // a SEG, surface segmentation or RTSTRUCT
	KindSegmentationReplaced = "segmentation_replaced" // a new revision of one
	KindModelAdded           = "model_added"
	KindModelReplaced        = "model_replaced"
	KindSidecarAdded         = "sidecar_added"
	KindSidecarReplaced      = "sidecar_replaced"
	KindObjectRejected       = "object_rejected"  // an object was refused (replaces what it held before)
	KindObjectRemoved        = "object_removed"   // the file an object came from was deleted: it left the case
	KindCaseMerged           = "case_merged"      // another case's facts were folded into this one
	KindCaseRetired          = "case_retired"     // this case was folded into another (see merged_into)
	KindStudyResolution      = "study_resolution" // an operator decided about a study (see resolutions)
)

// Change says what one accepted update did. Version is the case version it
// produced; At is when it was made (the event's time).
type Change struct {
	Kind       string   `json:"kind"`
	Version    uint64   `json:"version"`
	Object     string   `json:"object,omitempty"`
	StudyUIDs  []string `json:"study_uids,omitempty"`
	SeriesUID  string   `json:"series_uid,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	MergedFrom string   `json:"merged_from,omitempty"`
	MergedInto string   `json:"merged_into,omitempty"`
	// Minor is set when only the instance counts of a study that is still
	// receiving moved, or screening tokens were added that withhold no
	// published text: nothing a consumer sees changed beyond the counts. A
	// publisher may skip such events: the next event (at the latest the
	// study_stable one) carries the counts.
	Minor bool `json:"minor,omitempty"`
	// ReadyChanged is set when registry_ready flipped with this change.
	ReadyChanged bool      `json:"ready_changed,omitempty"`
	At           time.Time `json:"-"`
}

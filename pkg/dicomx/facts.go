package dicomx

// Facts are what one DICOM object contributes: its instance facts, and
// segmentation or encapsulated-model metadata when it carries them.
type Facts struct {
	Instance     *Instance          `json:"instance"`
	Segmentation *Segmentation      `json:"segmentation,omitempty"`
	Model        *EncapsulatedModel `json:"model,omitempty"`
}

// Extract reads the facts of an object whose header was read with ReadMeta.
func Extract(obj *Object) *Facts {
	in := NewInstance(obj)
	return &Facts{
		Instance:     in,
		Segmentation: NewSegmentation(obj, in),
		Model:        NewEncapsulatedModel(obj, in),
	}
}

// MetaOptions are reader options for metadata extraction: the header only,
// plus the embedded document of encapsulated models (so it can be measured).
func MetaOptions(lim Limits) Options {
	return Options{Limits: lim, LoadBulk: func(t Tag) bool { return t == TagEncapsulatedDocument }}
}

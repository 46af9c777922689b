package assemble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// caseRef returns the case reference a file's key names: the first folder
// under the models prefix ("" when there is none).
func (a *Assembler) caseRef(key string) string {
	if p := a.cfg.ModelsPrefix; p != "" {
		rest, ok := strings.CutPrefix(key, p)
		if !ok {
			return ""
		}
		key = rest
	}
	ref, _, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	return ref
}

// inFileCase sets res.CaseID to the case of a model or sidecar: the case
// of its folder, or the case that was folded into (see inCase). It returns
// the case id ("" when the key names no case folder).
func (a *Assembler) inFileCase(ctx context.Context, key string, res *pipeline.Result) (string, error) {
	ref := a.caseRef(key)
	if ref == "" {
		return "", nil
	}
	if err := a.inCase(ctx, casemodel.CaseID(a.key, ref), res); err != nil {
		return "", err
	}
	return res.CaseID, nil
}

// inCase sets res.CaseID to caseID, or to the case caseID was folded into,
// and the check to run on caseID's own case once the facts are written
// (see settle). The check runs even when the facts went elsewhere: an
// earlier delivery may have written them to caseID's case and stopped
// before its own check.
func (a *Assembler) inCase(ctx context.Context, caseID string, res *pipeline.Result) error {
	target, err := a.resolve(ctx, caseID)
	if err != nil {
		return err
	}
	res.CaseID = target
	res.AfterCase = func(ctx context.Context) error { return a.settle(ctx, caseID) }
	return nil
}

// settle folds a case that gained an alias pointer while an object's facts
// were on their way to it. A study writes its pointer before it folds, so
// either its fold sees those facts, or this look, made after they were
// written, sees its pointer; folding twice is harmless.
func (a *Assembler) settle(ctx context.Context, caseID string) error {
	target, err := a.resolve(ctx, caseID)
	if err != nil || target == caseID {
		return err
	}
	return a.retireAndMerge(ctx, caseID, target)
}

// model copies a model file from r (the object's stream, read once) into a
// local spool, measures it, writes its sanitised copy and returns its
// facts. Measuring and sanitising both read the file at random offsets (3MF
// is a zip); reading the spool spares a second pass over the network.
func (a *Assembler) model(ctx context.Context, in pipeline.Input, format mesh.Format, r io.Reader, src *watched) (pipeline.Result, error) {
	res := pipeline.Result{Kind: string(format)}
	caseID, err := a.inFileCase(ctx, in.Ref.Key, &res)
	if err != nil {
		return res, err
	}
	if caseID == "" {
		return res, pipeline.Permanent(ReasonNoCaseReference, errors.New("the model is not in a case folder (<case-ref>/…)"))
	}
	raw := newSpool(&a.bufs, a.cfg.SpoolDir, a.cfg.SpoolMemory)
	defer raw.Close()
	// The stream fails with objstore.ErrChanged if the size is not in.Size.
	if _, err := io.Copy(raw, r); err != nil {
		return res, fmt.Errorf("reading the model: %w", err)
	}
	rejected := func(err error) (pipeline.Result, error) {
		if terr := transient(ctx, src); terr != nil {
			return res, fmt.Errorf("reading the model: %w", terr)
		}
		reason := meshReason(err)
		rj := casemodel.RejectedFact{Origin: a.origin(in), Reason: reason}
		rj.Detail, rj.Issues = meshRefusal(err, reason)
		res.Facts = []casemodel.Fact{rj}
		return res, pipeline.Permanent(reason, err)
	}
	// Measuring holds the model's tables in memory: that is reserved
	// against the budget the objects in flight share, as DICOM values are.
	hold := a.cfg.Budget.Hold(a.cfg.BudgetWait)
	defer hold.Release()
	if err := hold.Reserve(a.meshMemory(format, in.Size)); errors.Is(err, dicomx.ErrBusy) {
		return res, fmt.Errorf("waiting for memory: %w", err) // retried later
	}
	opt := a.cfg.Mesh
	opt.Format = format
	rep, err := mesh.Measure(ctx, raw.ReaderAt(), in.Size, opt)
	if err != nil {
		return rejected(err)
	}
	out := newSpool(&a.bufs, a.cfg.SpoolDir, a.cfg.SpoolMemory)
	defer out.Close()
	if err := mesh.Sanitize(ctx, out, raw.ReaderAt(), in.Size, format); err != nil {
		return rejected(err)
	}
	key := caseID + "/models/" + in.ObjectID + "." + string(format)
	if err := a.put(ctx, key, modelContentType(format), out); err != nil {
		return res, err
	}
	res.Token = tokenFile + key
	res.Facts = []casemodel.Fact{modelFact(a.origin(in), rep)}
	return res, nil
}

// meshMemory estimates what measuring a model of size bytes holds: the
// tables of a 3MF package are capped by the mesh limits whatever its size;
// an STL or OBJ needs about three times its file. At most the whole budget,
// so that one large model still goes through, alone.
func (a *Assembler) meshMemory(format mesh.Format, size int64) int64 {
	lim := a.cfg.Mesh.Limits
	if lim.MaxMeshBytes <= 0 {
		lim = mesh.DefaultLimits()
	}
	n := lim.MaxMeshBytes
	if format != mesh.ThreeMF {
		n = min(3*size, n)
	}
	if b := a.cfg.Budget; b != nil {
		n = min(n, b.Max())
	}
	return max(n, 1<<20)
}

func modelContentType(f mesh.Format) string {
	switch f {
	case mesh.STL:
		return "model/stl"
	case mesh.ThreeMF:
		return "model/3mf"
	case mesh.OBJ:
		return "model/obj"
	}
	return "application/octet-stream"
}

// meshReason maps a mesh error to a reason code.
func meshReason(err error) string {
	switch {
	case errors.Is(err, mesh.ErrTooLarge):
		return registry.ReasonTooLarge
	case errors.Is(err, mesh.ErrUnsupported):
		return registry.ReasonUnsupported
	}
	return registry.ReasonMalformed
}

// meshRefusal is what the case shows of a mesh error: the reader's own
// error (fixed phrases, numbers and names of the format only, never text
// from the file) as an issue, published at once; anything else as a
// detail, screened as text.
func meshRefusal(err error, reason string) (detail string, issues []casemodel.RejectionIssue) {
	var fe *mesh.FormatError
	if errors.As(err, &fe) {
		return "", []casemodel.RejectionIssue{{Rule: reason, Message: fe.Error()}}
	}
	return err.Error(), nil
}

func metricsOf(m mesh.Metrics) casemodel.ModelMetrics {
	return casemodel.ModelMetrics{
		Triangles: m.Triangles, Vertices: m.Vertices, VolumeMM3: m.VolumeMM3, SurfaceAreaMM2: m.SurfaceAreaMM2,
		BBoxMinMM: m.BBox.Min, BBoxMaxMM: m.BBox.Max, Watertight: m.Watertight, Shells: int(m.Shells),
	}
}

// modelFact maps a mesh report onto the registry's model fact. Object
// names are lab text: the registry screens them against the case's
// identifiers and withholds what it refuses.
func modelFact(origin casemodel.Origin, rep *mesh.Report) casemodel.ModelFact {
	f := casemodel.ModelFact{Origin: origin, Format: string(rep.Format), Units: rep.Units, ModelMetrics: metricsOf(rep.Metrics)}
	for _, o := range rep.Objects {
		f.Objects = append(f.Objects, casemodel.ModelObject{Name: string(o.Name), ModelMetrics: metricsOf(o.Metrics)})
	}
	return f
}

// sidecar validates a case.json.
func (a *Assembler) sidecar(ctx context.Context, in pipeline.Input, r io.Reader) (pipeline.Result, error) {
	res := pipeline.Result{Kind: KindSidecar}
	caseID, err := a.inFileCase(ctx, in.Ref.Key, &res)
	if err != nil {
		return res, err
	}
	if caseID == "" {
		return res, pipeline.Permanent(ReasonNoCaseReference, errors.New("the case.json is not in a case folder (<case-ref>/case.json)"))
	}
	if in.Size > casemodel.MaxSidecarBytes {
		msg := fmt.Sprintf("is %d bytes, over the %d-byte limit", in.Size, casemodel.MaxSidecarBytes)
		res.Facts = []casemodel.Fact{casemodel.RejectedFact{Origin: a.origin(in), Reason: registry.ReasonInvalidSidecar,
			Issues: []casemodel.RejectionIssue{{Field: "(document)", Rule: "max_size", Message: msg}}}}
		return res, pipeline.Permanent(registry.ReasonInvalidSidecar, errors.New("case.json "+msg))
	}
	b, err := io.ReadAll(io.LimitReader(r, casemodel.MaxSidecarBytes+1))
	if err != nil {
		return res, fmt.Errorf("reading case.json: %w", err)
	}
	sc, err := casemodel.ParseSidecar(b)
	if err != nil {
		// The validator's issues name fields of the schema, rules and
		// fixed sentences, never a value: the lab sees them at once, even
		// before the study arrives.
		rj := casemodel.RejectedFact{Origin: a.origin(in), Reason: registry.ReasonInvalidSidecar}
		if se := (*casemodel.SidecarError)(nil); errors.As(err, &se) {
			rj.Issues = casemodel.SidecarIssues(se.Issues)
		} else {
			rj.Detail = err.Error()
		}
		res.Facts = []casemodel.Fact{rj}
		return res, pipeline.Permanent(registry.ReasonInvalidSidecar, err)
	}
	res.Facts = []casemodel.Fact{casemodel.SidecarFact{Origin: a.origin(in), Sidecar: *sc}}
	return res, nil
}

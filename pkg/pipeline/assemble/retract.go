package assemble

import (
	"context"
	"fmt"
	"strings"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// Tokens (pipeline.Result.Token) say what a processed object left behind,
// so a deleted file can be taken out again. They hold hashed ids and
// remapped UIDs only:
//
//	s:<study>/<series>/<sop>  an image: its series geometry record and its
//	                          de-identified copy
//	o:<study>/<series>/<sop>  another DICOM object (SEG, RTSTRUCT,
//	                          Encapsulated model, SR): its object in the
//	                          case and its de-identified copy
//	f:<output key>            a model file: its object and sanitised copy
//	(empty)                   a case.json or a refused file: its object
const (
	tokenImage  = "s:"
	tokenObject = "o:"
	tokenFile   = "f:"
)

func dicomToken(prefix, study, series, sop string) string {
	return prefix + study + "/" + series + "/" + sop
}

// Retract implements pipeline.Retracter: the facts that take a deleted
// file's object out of its case, once what was stored for it is removed.
// Retracting again finds everything gone and returns the same facts, which
// change nothing.
func (a *Assembler) Retract(ctx context.Context, r pipeline.Retraction) (pipeline.Result, error) {
	res := pipeline.Result{Kind: kindOfName(r.Ref.Key)}
	if r.CaseID == "" || !pipeline.ValidCaseID(r.CaseID) {
		return res, nil
	}
	// The case may have been folded into another since.
	if err := a.inCase(ctx, r.CaseID, &res); err != nil {
		return res, err
	}
	gone := func(id string) []casemodel.Fact {
		return []casemodel.Fact{casemodel.RemovedFact{Origin: casemodel.Origin{ID: id, Version: "removed", Time: r.Deleted}}}
	}
	switch {
	case strings.HasPrefix(r.Token, tokenImage), strings.HasPrefix(r.Token, tokenObject):
		res.Kind = KindDICOM
		study, rest, _ := strings.Cut(r.Token[2:], "/")
		series, sop, ok := strings.Cut(rest, "/")
		if !ok || study == "" || sop == "" {
			return res, pipeline.Permanent(pipeline.ReasonOther, fmt.Errorf("unreadable retraction token %q", r.Token))
		}
		if err := a.deid.Delete(ctx, r.CaseID+"/"+study+"/"+series+"/"+sop+".dcm"); err != nil {
			return res, fmt.Errorf("deleting the de-identified copy: %w", err)
		}
		if strings.HasPrefix(r.Token, tokenObject) {
			res.Facts = gone(sop)
			return res, nil
		}
		key := token(series)
		if series == "" {
			key = "none_" + token(study)
		}
		rev, err := a.removeFromSeries(ctx, key, sop)
		if err != nil || rev == 0 || series == "" {
			return res, err
		}
		// A record with no instance: the series is counted again before
		// its study is declared stable.
		res.Facts = []casemodel.Fact{casemodel.SeriesFact{Origin: casemodel.Origin{ID: sop, Version: "removed", Time: r.Deleted},
			StudyUID: study, SeriesUID: series, Seq: rev}}
	case strings.HasPrefix(r.Token, tokenFile):
		if key := r.Token[2:]; key != "" {
			if err := a.deid.Delete(ctx, key); err != nil {
				return res, fmt.Errorf("deleting the sanitised copy: %w", err)
			}
		}
		res.Facts = gone(r.ObjectID)
	default:
		res.Facts = gone(r.ObjectID)
	}
	return res, nil
}

package dicomx_test

import (
	"bytes"
	"fmt"
	"os"

	"github.com/printreg/printreg/pkg/dicomx"
)

// Read a CT slice's header (the pixel data is skipped, not loaded) and the
// facts extraction takes from it (the thickness is 1.25 mm, as pydicom and
// dcmtk read it). Limits bound what a hostile file can make the reader
// hold; the zero value gives the defaults.
func ExampleReadMeta() {
	b, err := os.ReadFile("../../testdata/dicom/series_dcmqi_ct-3slice/01.dcm")
	if err != nil {
		fmt.Println(err)
		return
	}
	obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.MetaOptions(dicomx.Limits{}))
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	in := dicomx.Extract(obj).Instance
	fmt.Printf("%s %s, %d×%d, slice thickness %v mm\n", in.Modality, in.SOPClassName, in.Rows, in.Columns, *in.SliceThickness)
	// Output:
	// CT CT Image Storage, 512×512, slice thickness 1.25 mm
}

package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
)

// The pipeline reads every object through the Bucket interface, with the
// size cap checked before the content is read; a folder (dirstore) and an
// S3 bucket (s3store) behave the same.
func ExampleOpenCapped() {
	dir, _ := os.MkdirTemp("", "objstore-example-")
	defer os.RemoveAll(dir)
	var b objstore.Bucket
	b, err := dirstore.New(dir, "inbox")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if _, err := b.Put(ctx, "ACC1/case.json", strings.NewReader(`{"indication":"x"}`), -1, objstore.PutOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	rc, info, err := objstore.OpenCapped(ctx, b, "ACC1/case.json", 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	body, _ := io.ReadAll(rc)
	fmt.Println(info.Size, len(body))
	_, _, err = objstore.OpenCapped(ctx, b, "ACC1/case.json", 10)
	fmt.Println(err != nil && errors.Is(err, objstore.ErrTooLarge))
	// Output:
	// 18 18
	// true
}

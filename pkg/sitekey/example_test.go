package sitekey_test

import (
	"fmt"

	"github.com/printreg/printreg/pkg/sitekey"
)

// Every pseudonym is a keyed hash under the site secret, in a domain of its
// own: the same accession number gives the same case id at every worker of
// the site, and an unrelated one at another site.
func ExampleKey_Hex() {
	a, _ := sitekey.New([]byte("site-a-secret-0123456789abcdef0123456789"))
	b, _ := sitekey.New([]byte("site-b-secret-0123456789abcdef0123456789"))
	idA := a.Hex(16, "case", "ACC123")
	fmt.Println(len(idA), idA == a.Hex(16, "case", "ACC123"), idA == b.Hex(16, "case", "ACC123"), idA == a.Hex(16, "study", "ACC123"))
	// Output:
	// 32 true false false
}

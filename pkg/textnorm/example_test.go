package textnorm_test

import (
	"fmt"

	"github.com/printreg/printreg/pkg/textnorm"
)

// Screening compares text only after folding it: compatibility forms,
// case in any script and the accents of Latin, Greek and Cyrillic letters
// no longer tell two spellings of a name apart.
func ExampleFold() {
	fmt.Println(textnorm.Fold("MÜLLER") == textnorm.Fold("muller"))
	fmt.Println(textnorm.Fold("ＹＡＭＡＤＡ") == textnorm.Fold("Yamada"))
	fmt.Println(textnorm.Fold("ИВАНОВА") == textnorm.Fold("иванова"))
	// Output:
	// true
	// true
	// true
}

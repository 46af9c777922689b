//go:build !race

package mesh

const raceBuild = false

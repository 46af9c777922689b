//go:build race

package mesh

// raceBuild: the race detector multiplies the memory a test uses.
const raceBuild = true

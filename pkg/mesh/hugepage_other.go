//go:build !linux

package mesh

// adviseHuge is a no-op where transparent huge pages are not advised.
func adviseHuge[T any](s []T) {}

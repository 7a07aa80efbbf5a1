//go:build !unix

package tagindex

// mapFile reads path into memory where mmap is not available.
func mapFile(path string) ([]byte, func([]byte) error, error) {
	return mapFileFallback(path)
}

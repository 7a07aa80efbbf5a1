package tagindex

import (
	"bufio"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// osFS maps files with mmap(2), as engine.OSFS does: tests that use a
// result after Close would fault if it aliased the mapping.
type osFS struct{}

func (osFS) MapFile(name string) ([]byte, func() error, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return unix.Munmap(data) }, nil
}

// writePartitionFile writes p to path (the engine's atomic write is not
// needed in these tests).
func writePartitionFile(tb testing.TB, p *Partition, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if _, err := p.WriteTo(bw); err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

package main

import (
	"fmt"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// diskCollector reports the file system that holds the data directory, so
// that an alert can fire before writes fail for want of space (node
// exporter reports it too, where it runs; a container often has none).
type diskCollector struct {
	dir         string
	free, total *prometheus.Desc
}

func newDiskCollector(dir string) *diskCollector {
	return &diskCollector{
		dir: dir,
		free: prometheus.NewDesc("data_dir_free_bytes",
			"Bytes available to the server on the file system of the data directory.", nil, nil),
		total: prometheus.NewDesc("data_dir_size_bytes",
			"Size in bytes of the file system of the data directory.", nil, nil),
	}
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.free; ch <- c.total }

// Collect reports nothing while the data directory cannot be read (it does
// not exist yet, say).
func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.dir, &st); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(st.Bavail)*float64(st.Bsize))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(st.Blocks)*float64(st.Bsize))
}

// registerDiskMetrics registers the data directory's file system gauges.
func registerDiskMetrics(reg prometheus.Registerer, dir string) error {
	if err := reg.Register(newDiskCollector(dir)); err != nil {
		return fmt.Errorf("register disk metrics: %w", err)
	}
	return nil
}

package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Strict recovery. Open cuts only a torn tail of the last WAL segment: the
// end of the last write before a crash, which no fsync ever covered. Any
// other damage (in an older WAL segment, which was fsynced before the next
// one was created, or in the last segment with valid records after it)
// stops the open with a RepairNeededError naming the file, the offset,
// what a repair would drop and the command that does it. Repair is an
// explicit act (lightning-admin repair, which calls Repair): it cuts the
// WAL at the first damage and drops every later WAL segment, as
// Prometheus's wlog.Repair does, because a later segment may use series
// whose definitions were in the lost range.

// RepairNeededError stops Open at damage that recovery does not cut by
// itself. It wraps the CorruptionError (errors.As finds it) and
// ErrNeedsRepair.
type RepairNeededError struct {
	Corruption *CorruptionError
	// Lost says what Repair would drop, e.g. "the WAL from there: 412
	// bytes of FILE from offset 70 and 2 later WAL segments (129024 bytes)".
	Lost string
	// Command is the exact command that repairs the directory.
	Command string
}

func (e *RepairNeededError) Error() string {
	return fmt.Sprintf("%v; the database was not opened. A repair drops %s; to do it, run: %s",
		e.Corruption, e.Lost, e.Command)
}

// Unwrap returns ErrNeedsRepair and the CorruptionError.
func (e *RepairNeededError) Unwrap() []error { return []error{ErrNeedsRepair, e.Corruption} }

// repairCommand returns the command that repairs dir.
func repairCommand(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if strings.ContainsAny(dir, " '\"\\$`\t\n;&|<>*?()") {
		dir = "'" + strings.ReplaceAll(dir, "'", `'\''`) + "'"
	}
	return "lightning-admin repair --data-dir " + dir
}

// RepairReport says what Repair changed.
type RepairReport struct {
	// Cut is the WAL segment cut at its first damage, nil when the WAL
	// needed no repair.
	Cut *CorruptionError
	// CutBytes is the number of bytes cut from Cut.File.
	CutBytes int64
	// Removed lists the later WAL segments dropped, RemovedBytes their size.
	Removed      []string
	RemovedBytes int64
	// Quarantined lists the segments moved to the quarantine directory.
	Quarantined []string
	// Missing lists the segments the manifest listed but that were gone,
	// dropped from the manifest.
	Missing []string
}

// RepairProgress is reported once per WAL segment, before it is replayed.
type RepairProgress struct {
	Segment, Segments int // 1-based position of File among the segments
	File              string
	Bytes             int64
}

// Repair opens the database in dir the way Open does, but cuts the WAL at
// its first damage and drops every later WAL segment instead of refusing
// to open; then it closes the database, leaving everything else in the
// WAL for the next Open. opts are the server's engine options (the
// defaults do for the WAL); progress, if not nil, is called per WAL
// segment. A damaged manifest or series snapshot is not repaired: Repair
// returns the same error as Open.
func Repair(dir string, opts Options, progress func(RepairProgress)) (*RepairReport, error) {
	rep := &RepairReport{}
	opts.repair = rep
	opts.progress = progress
	db, err := Open(dir, offline(opts))
	if err != nil {
		return rep, err
	}
	return rep, db.Close()
}

// offline returns opts for a tool that opens a stopped directory to
// mend it (Repair, RebuildIndex): nothing but the tool writes, so no flush
// (a partition duration other than the server's would cut wrong
// segments), compaction or retention.
func offline(opts Options) Options {
	opts.noFlushOnClose = true
	opts.DisableCompaction = true
	opts.Retention = 0
	opts.MemtableFlushBytes = math.MaxInt64
	opts.MemtableFlushInterval = math.MaxInt64
	opts.MaintenanceInterval = math.MaxInt64
	return opts
}

// walDamage is the first damaged record of a WAL segment.
type walDamage struct {
	CorruptionError
	size int64 // of the segment
	torn bool  // no valid record follows the damage
}

// handleWALDamage cuts a torn tail of the last WAL segment, or in repair
// mode cuts the segment and drops the later ones; otherwise it returns a
// RepairNeededError. later are the sequence numbers after d's segment.
func (db *DB) handleWALDamage(r *replayer, d *walDamage, later []uint64) error {
	lost := d.size - d.Offset
	if len(later) == 0 && d.torn {
		db.log.Warn("WAL damaged: torn tail of the last segment; cutting it at the last good record",
			"file", d.File, "offset", d.Offset, "lost_bytes", lost, "err", d.Err)
		return r.cut(d.File, d.Offset)
	}
	dir := filepath.Dir(d.File)
	var names []string
	var laterBytes int64
	for _, seq := range later {
		name := walName(dir, seq)
		n, err := fileSize(db.fs, name)
		if err != nil {
			return fmt.Errorf("WAL segment after damage: %w", err)
		}
		names, laterBytes = append(names, name), laterBytes+n
	}
	what := fmt.Sprintf("the WAL from there: %d bytes of %s from offset %d", lost, filepath.Base(d.File), d.Offset)
	if len(later) > 0 {
		what += fmt.Sprintf(" and %d later WAL segments (%d bytes)", len(later), laterBytes)
	}
	ce := &CorruptionError{File: d.File, Offset: d.Offset, Err: d.Err}
	if db.opts.repair == nil {
		db.log.Error("WAL damaged: not opening", "file", d.File, "offset", d.Offset, "err", d.Err,
			"repair_drops", what, "repair", repairCommand(db.dir))
		return &RepairNeededError{Corruption: ce, Lost: what, Command: repairCommand(db.dir)}
	}
	db.log.Warn("WAL repair: cutting the WAL at its first damage", "file", d.File, "offset", d.Offset,
		"err", d.Err, "dropped", what)
	rep := db.opts.repair
	rep.Cut, rep.CutBytes, rep.Removed, rep.RemovedBytes = ce, lost, names, laterBytes
	for _, name := range names {
		if err := db.fs.Remove(name); err != nil {
			return fmt.Errorf("repair: remove WAL segment after the damage: %w", err)
		}
	}
	return r.cut(d.File, d.Offset)
}

// fileSize returns the size of the file name.
func fileSize(fsys FS, name string) (int64, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	n, err := f.Seek(0, io.SeekEnd)
	return n, errors.Join(err, f.Close())
}

// validRecordAfter reports whether a whole, valid record starts anywhere
// in data after off, which tells damage from a torn tail: a crash tears
// only the end of the last write. Candidates are filtered by the version
// and kind bytes before their checksum is computed. Bytes crafted to pass
// the filter at every offset (string values are written as they are) could
// make the scan quadratic, so the checksummed bytes are bounded; past the
// bound it reports true, the safe answer: the open stops and repair is left
// to the operator.
func validRecordAfter(data []byte, off int) bool {
	budget := 16*len(data) + 1<<20
	for p := max(off+1, walHeaderSize); p+recordHeaderSize <= len(data); p++ {
		if data[p+8] != recordVersion || data[p+9]&^flagS2 != recordBatch {
			continue
		}
		n := int(binary.LittleEndian.Uint32(data[p+4:]))
		if n > maxRecordSize || n > len(data)-p-recordHeaderSize {
			continue
		}
		if budget -= n; budget < 0 {
			return true
		}
		end := p + recordHeaderSize + n
		if crc32.Checksum(data[p+4:end], castagnoli) == binary.LittleEndian.Uint32(data[p:]) {
			return true
		}
	}
	return false
}

// verifyWAL reports the first damaged record of the WAL that would stop
// an open: a record that fails its checks in a segment before the last,
// or in the last with a valid record after it. A torn tail of the last
// segment is not reported: the open cuts it, and on a running database it
// is the write in flight. Records are checked, not decoded: a record that
// names a series the registry lacks is found only by replay.
func verifyWAL(fsys FS, dir string, checkpoint uint64, rep *VerifyReport) error {
	wdir := filepath.Join(dir, walDir)
	seqs, err := listWAL(fsys, wdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list WAL: %w", err)
	}
	for i, seq := range seqs {
		if seq < checkpoint {
			continue
		}
		name := walName(wdir, seq)
		data, err := fsys.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read WAL segment: %w", err)
		}
		off, cause := firstBadRecord(data)
		if cause == nil || i == len(seqs)-1 && !validRecordAfter(data, off) {
			continue
		}
		rep.Damage = append(rep.Damage, &CorruptionError{File: name, Offset: int64(off),
			Err: fmt.Errorf("WAL record: %w; the open stops here, lightning-admin repair cuts the WAL here", cause)})
		return nil // repair drops everything after it
	}
	return nil
}

// firstBadRecord returns the offset of the first record of a WAL segment
// that fails its checks and why, or a nil error.
func firstBadRecord(data []byte) (int, error) {
	if len(data) < walHeaderSize || string(data[:len(walMagic)]) != walMagic || data[len(walMagic)] != walVersion {
		return 0, errors.New("bad or torn segment header")
	}
	var buf []byte
	for off := walHeaderSize; off < len(data); {
		_, size, err := readRecord(data[off:], &buf)
		if err != nil {
			return off, err
		}
		off += size
	}
	return 0, nil
}

package mqtt

import (
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// qos2Store makes QoS 2 "exactly once" hold across a server restart. For
// each QoS 2 message received and not yet released (PUBREL), it keeps the
// client ID, the packet ID and the server timestamp the message was
// stored with, in an append-only file fsynced before the message's
// samples are appended:
//
//	PUBLISH QoS 2, DUP=0       put(client, pid, now): write, fsync   then store the samples at now
//	PUBLISH QoS 2, DUP=1       a record: store again at its time     (one sample per series and
//	                           none: as DUP=0                         timestamp: the engine keeps
//	                                                                  the last write, so twice is once)
//	PUBREL (PUBCOMP sent)      del(client, pid): written, not fsynced
//	CONNECT, clean session     dropClient(client): written, not fsynced
//
// A message that carries its own timestamps is stored at them either way;
// the recorded time matters for samples that take the receive time.
// Deletions need no fsync: a DUP=0 PUBLISH is always a new message and
// replaces any record of its packet ID. They are written at once (a
// SIGKILL loses nothing the kernel holds), so only a machine crash can
// bring back a released record; the client would then have to resend,
// with DUP=1, a message the server never saw with DUP=0 for the record to
// be used wrongly.
//
// The records are bounded: maxPerClient for one client ID (a client has
// at most Receive Maximum QoS 2 messages unreleased; the oldest goes
// first) and maxTotal in all (the oldest record goes first). The file is
// rewritten with the live records once it holds more than four times
// their bytes (and at least compactMinBytes).
//
// File format: frames of uint32 body length, uint32 CRC-32C of the body,
// body (appendQoS2Record). Opening reads the frames up to the first that
// is torn or corrupt and truncates the file there.
//
// mu protects the maps, the lists and pending; fmu serialises writes to
// f, fsyncs and compaction (taken before mu when both are held).
type qos2Store struct {
	path         string
	maxPerClient int
	maxTotal     int

	fmu       sync.Mutex
	f         *os.File
	fileBytes int64
	synced    uint64 // records up to this sequence number are fsynced

	mu        sync.Mutex
	recs      map[qos2Key]*qos2Entry
	clients   map[string]*list.List // per client: *qos2Entry, oldest first
	all       *list.List            // every entry, oldest first
	liveBytes int64                 // encoded bytes of the live records
	pending   []byte                // records not yet written to f
	seq       uint64                // sequence number of the last record in pending
	err       error                 // a failed write or fsync: every later put fails
}

type qos2Key struct {
	client string
	pid    uint16
}

type qos2Entry struct {
	key      qos2Key
	ts       int64         // unix ns the message was stored with
	inAll    *list.Element // in qos2Store.all
	inClient *list.Element // in qos2Store.clients[key.client]
}

// qos2 record operations.
const (
	qos2Put  byte = 1
	qos2Del  byte = 2
	qos2Drop byte = 3 // every record of a client
)

// qos2Record is one decoded record.
type qos2Record struct {
	op     byte
	client string
	pid    uint16 // put and del
	ts     int64  // put
}

const (
	qos2FileName    = "qos2-received.log"
	compactMinBytes = 1 << 20
	qos2FrameHeader = 8
	maxClientIDLen  = 65535 // a MQTT UTF-8 string
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// errQoS2Record is a frame or record that does not decode.
var errQoS2Record = errors.New("mqtt qos2 record")

// openQoS2Store opens (or creates) the store in dir.
func openQoS2Store(dir string, maxPerClient, maxTotal int) (*qos2Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mqtt qos2 store: %w", err)
	}
	s := &qos2Store{path: filepath.Join(dir, qos2FileName), maxPerClient: maxPerClient, maxTotal: maxTotal,
		recs: map[qos2Key]*qos2Entry{}, clients: map[string]*list.List{}, all: list.New()}
	data, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mqtt qos2 store: %w", err)
	}
	good := 0
	for rest := data; len(rest) > 0; {
		r, next, err := unmarshalQoS2Frame(rest)
		if err != nil {
			break // a torn or corrupt tail: what follows is dropped
		}
		s.apply(r)
		good += len(rest) - len(next)
		rest = next
	}
	s.pending = s.pending[:0] // apply's evictions are in the rewrite below
	// Rewrite the live records: drops the tail and what was deleted.
	if err := s.rewrite(); err != nil {
		return nil, err
	}
	return s, nil
}

// apply applies a decoded record to the maps (at open).
func (s *qos2Store) apply(r qos2Record) {
	switch r.op {
	case qos2Put:
		s.putLocked(qos2Key{r.client, r.pid}, r.ts)
	case qos2Del:
		s.delLocked(qos2Key{r.client, r.pid})
	case qos2Drop:
		s.dropLocked(r.client)
	}
}

// lookup returns the timestamp recorded for (client, pid).
func (s *qos2Store) lookup(client string, pid uint16) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.recs[qos2Key{client, pid}]
	if !ok {
		return 0, false
	}
	return e.ts, true
}

// put records (client, pid) -> ts and returns once the record is fsynced.
// Concurrent puts share one write and fsync (group commit: the first to
// take fmu writes what every other put queued meanwhile).
func (s *qos2Store) put(client string, pid uint16, ts int64) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.putLocked(qos2Key{client, pid}, ts)
	s.pending = appendQoS2Frame(s.pending, qos2Record{op: qos2Put, client: client, pid: pid, ts: ts})
	s.seq++
	seq := s.seq
	s.mu.Unlock()

	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.synced >= seq {
		return nil // a put that took fmu first wrote and fsynced ours
	}
	last, err := s.writeLocked()
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("mqtt qos2 store: %w", err)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		return err
	}
	s.synced = last
	s.maybeCompactLocked()
	return nil
}

// del forgets (client, pid): its PUBREL came. It reports whether there
// was a record.
func (s *qos2Store) del(client string, pid uint16) bool {
	s.mu.Lock()
	k := qos2Key{client, pid}
	if _, ok := s.recs[k]; !ok {
		s.mu.Unlock()
		return false
	}
	s.delLocked(k)
	s.pending = appendQoS2Frame(s.pending, qos2Record{op: qos2Del, client: client, pid: pid})
	s.seq++
	s.mu.Unlock()
	s.writeSoon()
	return true
}

// dropClient forgets every record of client: it started a clean session,
// so it sends none of its messages again.
func (s *qos2Store) dropClient(client string) {
	s.mu.Lock()
	if _, ok := s.clients[client]; !ok {
		s.mu.Unlock()
		return
	}
	s.dropLocked(client)
	s.pending = appendQoS2Frame(s.pending, qos2Record{op: qos2Drop, client: client})
	s.seq++
	s.mu.Unlock()
	s.writeSoon()
}

// writeSoon writes the pending records without an fsync, unless a put is
// writing (it writes what is pending before it lets go of fmu).
func (s *qos2Store) writeSoon() {
	if !s.fmu.TryLock() {
		return
	}
	defer s.fmu.Unlock()
	_, _ = s.writeLocked() // a failure shows in the next put
}

// writeLocked writes the pending records to f and returns the sequence
// number of the last one. fmu is held.
func (s *qos2Store) writeLocked() (uint64, error) {
	s.mu.Lock()
	buf, last := s.pending, s.seq
	s.pending = nil
	s.mu.Unlock()
	if len(buf) == 0 {
		return last, nil
	}
	n, err := s.f.Write(buf)
	s.fileBytes += int64(n)
	return last, err
}

// maybeCompactLocked rewrites the file when it holds far more than the
// live records. fmu is held.
func (s *qos2Store) maybeCompactLocked() {
	s.mu.Lock()
	live := s.liveBytes
	s.mu.Unlock()
	if s.fileBytes < compactMinBytes || s.fileBytes < 4*live {
		return
	}
	if err := s.rewrite(); err != nil {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}
}

// rewrite replaces the file with the live records (fsynced, renamed into
// place, the directory fsynced) and opens it for appending. fmu is held,
// or the store is not shared yet.
func (s *qos2Store) rewrite() error {
	s.mu.Lock()
	var buf []byte
	for el := s.all.Front(); el != nil; el = el.Next() {
		e := el.Value.(*qos2Entry)
		buf = appendQoS2Frame(buf, qos2Record{op: qos2Put, client: e.key.client, pid: e.key.pid, ts: e.ts})
	}
	s.pending = nil // every live record is in buf
	last := s.seq
	s.mu.Unlock()
	tmp := s.path + ".tmp"
	if err := writeFileSync(tmp, buf); err != nil {
		return fmt.Errorf("mqtt qos2 store: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("mqtt qos2 store: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("mqtt qos2 store: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("mqtt qos2 store: %w", err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.fileBytes, s.synced = f, int64(len(buf)), last
	return nil
}

// close writes what is pending and closes the file.
func (s *qos2Store) close() error {
	if s == nil {
		return nil
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		return nil // closed
	}
	_, err := s.writeLocked()
	if err == nil {
		err = s.f.Sync()
	}
	err = errors.Join(err, s.f.Close())
	s.f = nil
	s.mu.Lock()
	if s.err == nil {
		s.err = errors.New("mqtt qos2 store: closed")
	}
	s.mu.Unlock()
	return err
}

// len returns the number of live records.
func (s *qos2Store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// putLocked records k -> ts, evicting the oldest records over the quotas.
func (s *qos2Store) putLocked(k qos2Key, ts int64) {
	if e, ok := s.recs[k]; ok {
		s.unlinkLocked(e)
	}
	cl := s.clients[k.client]
	if cl == nil {
		cl = list.New()
		s.clients[k.client] = cl
	}
	for cl.Len() >= s.maxPerClient && cl.Len() > 0 {
		s.unlinkLocked(cl.Front().Value.(*qos2Entry))
	}
	for s.all.Len() >= s.maxTotal && s.all.Len() > 0 {
		s.unlinkLocked(s.all.Front().Value.(*qos2Entry))
	}
	if s.clients[k.client] == nil { // the eviction emptied and removed it
		s.clients[k.client] = cl
	}
	e := &qos2Entry{key: k, ts: ts}
	e.inAll = s.all.PushBack(e)
	e.inClient = cl.PushBack(e)
	s.recs[k] = e
	s.liveBytes += int64(qos2RecordSize(k.client))
}

func (s *qos2Store) delLocked(k qos2Key) {
	if e, ok := s.recs[k]; ok {
		s.unlinkLocked(e)
	}
}

func (s *qos2Store) dropLocked(client string) {
	cl := s.clients[client]
	if cl == nil {
		return
	}
	for cl.Len() > 0 {
		s.unlinkLocked(cl.Front().Value.(*qos2Entry))
	}
}

// unlinkLocked removes e from the maps and lists.
func (s *qos2Store) unlinkLocked(e *qos2Entry) {
	delete(s.recs, e.key)
	s.all.Remove(e.inAll)
	if cl := s.clients[e.key.client]; cl != nil {
		cl.Remove(e.inClient)
		if cl.Len() == 0 {
			delete(s.clients, e.key.client)
		}
	}
	s.liveBytes -= int64(qos2RecordSize(e.key.client))
}

// qos2RecordSize is the size of a put frame for client.
func qos2RecordSize(client string) int {
	return qos2FrameHeader + 1 + binary.MaxVarintLen32 + len(client) + 2 + 8
}

// appendQoS2Frame appends r as a frame: body length, CRC-32C, body.
func appendQoS2Frame(dst []byte, r qos2Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, qos2FrameHeader)...)
	dst = appendQoS2Record(dst, r)
	body := dst[start+qos2FrameHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, crc32c))
	return dst
}

// appendQoS2Record appends r's body: op, client ID (uvarint length,
// bytes), then for put and del the packet ID (2 bytes), for put the
// timestamp (8 bytes, unix ns).
func appendQoS2Record(dst []byte, r qos2Record) []byte {
	dst = append(dst, r.op)
	dst = binary.AppendUvarint(dst, uint64(len(r.client)))
	dst = append(dst, r.client...)
	if r.op == qos2Put || r.op == qos2Del {
		dst = binary.BigEndian.AppendUint16(dst, r.pid)
	}
	if r.op == qos2Put {
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.ts))
	}
	return dst
}

// unmarshalQoS2Frame decodes the frame at the start of src and returns
// the rest.
func unmarshalQoS2Frame(src []byte) (qos2Record, []byte, error) {
	if len(src) < qos2FrameHeader {
		return qos2Record{}, src, fmt.Errorf("%w: frame header of %d bytes, want %d", errQoS2Record, len(src), qos2FrameHeader)
	}
	n := binary.BigEndian.Uint32(src)
	if uint64(n) > uint64(len(src)-qos2FrameHeader) {
		return qos2Record{}, src, fmt.Errorf("%w: body of %d bytes, %d left", errQoS2Record, n, len(src)-qos2FrameHeader)
	}
	body := src[qos2FrameHeader : qos2FrameHeader+int(n)]
	if crc32.Checksum(body, crc32c) != binary.BigEndian.Uint32(src[4:]) {
		return qos2Record{}, src, fmt.Errorf("%w: checksum mismatch", errQoS2Record)
	}
	r, err := unmarshalQoS2Record(body)
	if err != nil {
		return qos2Record{}, src, err
	}
	return r, src[qos2FrameHeader+int(n):], nil
}

// unmarshalQoS2Record decodes a record body (appendQoS2Record); trailing
// bytes are an error.
func unmarshalQoS2Record(b []byte) (qos2Record, error) {
	var r qos2Record
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty", errQoS2Record)
	}
	r.op, b = b[0], b[1:]
	if r.op < qos2Put || r.op > qos2Drop {
		return r, fmt.Errorf("%w: operation %d", errQoS2Record, r.op)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxClientIDLen || n > uint64(len(b)-k) {
		return r, fmt.Errorf("%w: client ID length", errQoS2Record)
	}
	r.client, b = string(b[k:k+int(n)]), b[k+int(n):]
	want := 0
	switch r.op {
	case qos2Put:
		want = 10
	case qos2Del:
		want = 2
	}
	if len(b) != want {
		return r, fmt.Errorf("%w: operation %d with %d bytes after the client ID, want %d", errQoS2Record, r.op, len(b), want)
	}
	if want >= 2 {
		r.pid = binary.BigEndian.Uint16(b)
	}
	if want == 10 {
		r.ts = int64(binary.BigEndian.Uint64(b[2:]))
	}
	return r, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

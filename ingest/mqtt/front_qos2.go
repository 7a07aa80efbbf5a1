package mqtt

import "fmt"

// has reports whether the store holds a record of client.
func (s *qos2Store) has(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.clients[client]
	return ok
}

// putAll records keys[i] -> ts[i] and returns once the records are
// fsynced: the publish front end records a round's new QoS 2 messages
// with one write and one fsync (put's group commit, for many at once).
func (s *qos2Store) putAll(keys []qos2Key, ts []int64) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	for i, k := range keys {
		s.putLocked(k, ts[i])
		s.pending = appendQoS2Frame(s.pending, qos2Record{op: qos2Put, client: k.client, pid: k.pid, ts: ts[i]})
		s.seq++
	}
	seq := s.seq
	s.mu.Unlock()

	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.synced >= seq {
		return nil
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

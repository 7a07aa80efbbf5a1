package fanout

// Peer is a storage node: a name for messages and the base URL of its
// HTTP API (http://host:port, no trailing slash needed).
type Peer struct {
	Name string
	URL  string
}

// Topology says which peers hold the data. Peers returns the peers to ask
// now and, in missing, a human description of each part of the data that
// no live (or caught-up) peer holds, such as "partition 17 (owner node-b
// not caught up)". A non-empty missing makes every answer partial.
//
// It is called once per select and per metadata request, so it must be
// cheap and safe for concurrent use. The returned slices are not modified.
type Topology interface {
	Peers() (peers []Peer, missing []string)
}

// Static is a fixed list of peers and never reports anything missing.
type Static []Peer

// Peers returns the list.
func (s Static) Peers() ([]Peer, []string) { return s, nil }

// StaticURLs returns a Static topology of base URLs, each named by its URL.
func StaticURLs(urls []string) Static {
	s := make(Static, len(urls))
	for i, u := range urls {
		s[i] = Peer{Name: u, URL: u}
	}
	return s
}

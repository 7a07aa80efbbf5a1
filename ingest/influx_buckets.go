package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/retention"
)

// The InfluxDB 2.x buckets API (/api/v2/buckets) over the retention
// policies, as InfluxDB 1.8's v2 compatibility maps them: a bucket is a
// database's retention policy, named "db/rp" ("db" alone: the database's
// default policy), and its one retention rule is the policy's duration
// (docs/retention.md "Buckets").

// bucketOrgID is the organization ID of every bucket: there is one.
const bucketOrgID = "0000000000000001"

// maxBucketBody bounds a bucket request body.
const maxBucketBody = 64 << 10

// Bucket list paging (InfluxDB's defaults and maximum).
const (
	defaultBucketLimit = 20
	maxBucketLimit     = 100
)

// errBucketNotFound is the answer for an unknown bucket ID.
var errBucketNotFound = errors.New("bucket not found")

// bucketRule is a retention rule: keep the data everySeconds (0: for ever).
type bucketRule struct {
	Type                      string `json:"type"`
	EverySeconds              int64  `json:"everySeconds"`
	ShardGroupDurationSeconds int64  `json:"shardGroupDurationSeconds,omitempty"`
}

// bucketJSON is a bucket as influxdb-client-go's domain.Bucket reads it.
type bucketJSON struct {
	ID             string            `json:"id"`
	OrgID          string            `json:"orgID"`
	Type           string            `json:"type"`
	Name           string            `json:"name"`
	RP             string            `json:"rp"`
	SchemaType     string            `json:"schemaType"`
	RetentionRules []bucketRule      `json:"retentionRules"`
	Labels         []struct{}        `json:"labels"`
	Links          map[string]string `json:"links"`
}

// bucketRequest is the body of a POST (name and rules) or a PATCH (rules,
// and a name that must not change).
type bucketRequest struct {
	Name           *string       `json:"name"`
	RetentionRules *[]bucketRule `json:"retentionRules"`
}

// bucketRef is a bucket: a database's policy.
type bucketRef struct {
	db string
	rp RetentionPolicy
}

func (b bucketRef) name() string { return b.db + "/" + b.rp.Name }

// bucketID is a bucket's ID: 16 hex digits hashed from its name, so that
// it is stable across restarts without being stored.
func bucketID(db, rp string) string {
	f := fnv.New64a()
	_, _ = io.WriteString(f, db)
	_, _ = f.Write([]byte{0})
	_, _ = io.WriteString(f, rp)
	return fmt.Sprintf("%016x", f.Sum64()|1)
}

func (b bucketRef) json() bucketJSON {
	id := bucketID(b.db, b.rp.Name)
	rule := bucketRule{Type: "expire", EverySeconds: int64(b.rp.Duration / time.Second),
		ShardGroupDurationSeconds: int64(b.rp.ShardGroupDuration / time.Second)}
	return bucketJSON{ID: id, OrgID: bucketOrgID, Type: "user", Name: b.name(), RP: b.rp.Name,
		SchemaType: "implicit", RetentionRules: []bucketRule{rule}, Labels: []struct{}{},
		Links: map[string]string{"self": "/api/v2/buckets/" + id,
			"write": "/api/v2/write?bucket=" + b.name()}}
}

// splitBucketName splits "db/rp" ("db": rp empty).
func splitBucketName(name string) (db, rp string, err error) {
	db, rp, _ = strings.Cut(name, "/")
	if db == "" {
		return "", "", fmt.Errorf("bucket name %q: want db/rp or db", name)
	}
	return db, rp, nil
}

// decodeBucketRequest reads a bucket request body: at most one retention
// rule, of type "expire", with durations in whole seconds that fit.
func decodeBucketRequest(body []byte) (bucketRequest, error) {
	var req bucketRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, fmt.Errorf("invalid bucket JSON: %w", err)
	}
	if req.RetentionRules == nil {
		return req, nil
	}
	if len(*req.RetentionRules) > 1 {
		return req, fmt.Errorf("retentionRules: want at most one rule, got %d", len(*req.RetentionRules))
	}
	for _, r := range *req.RetentionRules {
		if r.Type != "" && r.Type != "expire" {
			return req, fmt.Errorf("retentionRules[0].type %q: want \"expire\"", r.Type)
		}
		const maxSeconds = math.MaxInt64 / int64(time.Second)
		if r.EverySeconds < 0 || r.EverySeconds > maxSeconds {
			return req, fmt.Errorf("retentionRules[0].everySeconds %d: want 0 (for ever) to %d", r.EverySeconds, maxSeconds)
		}
		if r.ShardGroupDurationSeconds < 0 || r.ShardGroupDurationSeconds > maxSeconds {
			return req, fmt.Errorf("retentionRules[0].shardGroupDurationSeconds %d: want 0 (the default) to %d", r.ShardGroupDurationSeconds, maxSeconds)
		}
		if r.EverySeconds > 0 && r.ShardGroupDurationSeconds > r.EverySeconds {
			return req, fmt.Errorf("retentionRules[0].shardGroupDurationSeconds %d: longer than everySeconds %d", r.ShardGroupDurationSeconds, r.EverySeconds)
		}
	}
	return req, nil
}

// readBucketRequest reads and decodes r's body; on failure it answers and
// reports false.
func (h *InfluxHandler) readBucketRequest(w http.ResponseWriter, r *http.Request) (bucketRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBucketBody))
	if err != nil {
		h.writeError(w, apiV2, http.StatusRequestEntityTooLarge, fmt.Sprintf("bucket request body: %v (at most %d bytes)", err, maxBucketBody), "")
		return bucketRequest{}, false
	}
	req, err := decodeBucketRequest(body)
	if err != nil {
		h.writeError(w, apiV2, http.StatusBadRequest, err.Error(), "")
		return req, false
	}
	return req, true
}

// bucketsReady checks the credentials and that the server keeps retention
// policies; on failure it answers and reports false.
func (h *InfluxHandler) bucketsReady(w http.ResponseWriter, r *http.Request) bool {
	if !h.authorized(r) {
		h.unauthorized(w, apiV2)
		return false
	}
	if h.opts.RetentionPolicies == nil {
		h.writeError(w, apiV2, http.StatusNotFound, "buckets are not served: this server keeps no retention policies", "")
		return false
	}
	return true
}

// serveBuckets serves GET (list) and POST (create) /api/v2/buckets.
func (h *InfluxHandler) serveBuckets(w http.ResponseWriter, r *http.Request) {
	if !h.bucketsReady(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.listBuckets(w, r)
	case http.MethodPost:
		h.createBucket(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		h.writeError(w, apiV2, http.StatusMethodNotAllowed, "method not allowed", "")
	}
}

// serveBucket serves GET, PATCH and DELETE /api/v2/buckets/{id}.
func (h *InfluxHandler) serveBucket(w http.ResponseWriter, r *http.Request) {
	if !h.bucketsReady(w, r) {
		return
	}
	b, err := h.findBucket(r.PathValue("id"))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errBucketNotFound) {
			status = http.StatusNotFound
		}
		h.writeError(w, apiV2, status, err.Error(), "")
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, b.json())
	case http.MethodPatch:
		h.patchBucket(w, r, b)
	case http.MethodDelete:
		if err := h.opts.RetentionPolicies.DropRetentionPolicy(b.db, b.rp.Name); err != nil {
			h.bucketError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PATCH, DELETE")
		h.writeError(w, apiV2, http.StatusMethodNotAllowed, "method not allowed", "")
	}
}

// buckets returns every bucket: each known database's policies.
func (h *InfluxHandler) buckets() ([]bucketRef, error) {
	var out []bucketRef
	for _, db := range h.dbs.list() {
		rps, err := h.opts.RetentionPolicies.RetentionPolicies(db)
		if err != nil {
			return nil, fmt.Errorf("retention policies of %q: %w", db, err)
		}
		for _, rp := range rps {
			out = append(out, bucketRef{db: db, rp: rp})
		}
	}
	return out, nil
}

func (h *InfluxHandler) findBucket(id string) (bucketRef, error) {
	all, err := h.buckets()
	if err != nil {
		return bucketRef{}, err
	}
	for _, b := range all {
		if bucketID(b.db, b.rp.Name) == id {
			return b, nil
		}
	}
	return bucketRef{}, fmt.Errorf("%w: id %q", errBucketNotFound, id)
}

// matches reports whether b is the bucket name designates ("db": the
// database's default policy).
func (b bucketRef) matches(name string) bool {
	db, rp, _ := strings.Cut(name, "/")
	return b.db == db && (b.rp.Name == rp || rp == "" && b.rp.Default)
}

func (h *InfluxHandler) listBuckets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := defaultBucketLimit, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxBucketLimit {
			h.writeError(w, apiV2, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to %d", v, maxBucketLimit), "")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			h.writeError(w, apiV2, http.StatusBadRequest, fmt.Sprintf("offset %q: want a non-negative integer", v), "")
			return
		}
	}
	all, err := h.buckets()
	if err != nil {
		h.writeError(w, apiV2, http.StatusInternalServerError, err.Error(), "")
		return
	}
	name, after, id := q.Get("name"), q.Get("after"), q.Get("id")
	list := []bucketJSON{}
	skipping := after != ""
	for _, b := range all {
		j := b.json()
		switch {
		case skipping:
			skipping = j.ID != after
			continue
		case name != "" && !b.matches(name), id != "" && j.ID != id:
			continue
		case offset > 0:
			offset--
			continue
		}
		if len(list) == limit {
			break
		}
		list = append(list, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": list,
		"links": map[string]string{"self": "/api/v2/buckets?" + q.Encode()}})
}

// createBucket creates the policy of a bucket named "db/rp" ("db":
// autogen), with the duration of its rule (none: for ever). The first
// bucket of a database not known before is its default policy, as
// CREATE DATABASE ... WITH makes it.
func (h *InfluxHandler) createBucket(w http.ResponseWriter, r *http.Request) {
	req, ok := h.readBucketRequest(w, r)
	if !ok {
		return
	}
	if req.Name == nil {
		h.writeError(w, apiV2, http.StatusBadRequest, "bucket name is required", "")
		return
	}
	db, rp, err := splitBucketName(*req.Name)
	if err != nil {
		h.writeError(w, apiV2, http.StatusBadRequest, err.Error(), "")
		return
	}
	if rp == "" {
		rp = "autogen"
	}
	all, err := h.buckets()
	if err != nil {
		h.writeError(w, apiV2, http.StatusInternalServerError, err.Error(), "")
		return
	}
	known := false
	for _, b := range all {
		if b.db == db && b.rp.Name == rp {
			h.writeError(w, apiV2, http.StatusUnprocessableEntity, fmt.Sprintf("bucket with name %s already exists", b.name()), "conflict")
			return
		}
		known = known || b.db == db
	}
	pol := RetentionPolicy{Name: rp, ReplicaN: 1, Default: !known}
	if req.RetentionRules != nil && len(*req.RetentionRules) == 1 {
		rule := (*req.RetentionRules)[0]
		pol.Duration = time.Duration(rule.EverySeconds) * time.Second
		pol.ShardGroupDuration = time.Duration(rule.ShardGroupDurationSeconds) * time.Second
	}
	if err := h.opts.RetentionPolicies.CreateRetentionPolicy(db, pol); err != nil {
		h.bucketError(w, err)
		return
	}
	h.dbs.add(db)
	b, err := h.findBucket(bucketID(db, rp))
	if err != nil {
		h.writeError(w, apiV2, http.StatusInternalServerError, err.Error(), "")
		return
	}
	writeJSON(w, http.StatusCreated, b.json())
}

// patchBucket changes a bucket's rule; a bucket cannot be renamed.
func (h *InfluxHandler) patchBucket(w http.ResponseWriter, r *http.Request, b bucketRef) {
	req, ok := h.readBucketRequest(w, r)
	if !ok {
		return
	}
	if req.Name != nil && *req.Name != b.name() {
		h.writeError(w, apiV2, http.StatusBadRequest, fmt.Sprintf("bucket %s: renaming a bucket (to %q) is not supported", b.name(), *req.Name), "")
		return
	}
	if req.RetentionRules != nil && len(*req.RetentionRules) == 1 {
		rule := (*req.RetentionRules)[0]
		dur := time.Duration(rule.EverySeconds) * time.Second
		shard := time.Duration(rule.ShardGroupDurationSeconds) * time.Second // 0: the default for dur
		err := h.opts.RetentionPolicies.AlterRetentionPolicy(b.db, b.rp.Name, RetentionPolicyChange{Duration: &dur, ShardGroupDuration: &shard})
		if err != nil {
			h.bucketError(w, err)
			return
		}
	}
	nb, err := h.findBucket(bucketID(b.db, b.rp.Name))
	if err != nil {
		h.writeError(w, apiV2, http.StatusInternalServerError, err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, nb.json())
}

// bucketError answers a failed policy change: the user's mistakes (a rule
// under an hour, a limit) as invalid, others as internal errors.
func (h *InfluxHandler) bucketError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, retention.ErrPolicyTooShort), errors.Is(err, retention.ErrTooManyPolicies),
		errors.Is(err, retention.ErrPolicyNotFound), errors.Is(err, retention.ErrInvalidDuration):
		h.writeError(w, apiV2, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, retention.ErrPolicyExists):
		h.writeError(w, apiV2, http.StatusUnprocessableEntity, err.Error(), "conflict")
	default:
		h.writeError(w, apiV2, http.StatusInternalServerError, err.Error(), "")
	}
}

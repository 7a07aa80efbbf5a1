package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ql "github.com/influxdata/influxql"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/query/fanout"
	"github.com/lightningdb/lightningdb/query/influxql"
	"github.com/lightningdb/lightningdb/remote"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// InfluxQL on a query node (docs/cluster.md "Queries"): each statement's
// series are read from the peers by the fan-out's remote read (merged,
// with its warnings and partial_response rules), loaded into a temporary
// engine and answered there by the normal executor. The peers' catalogs
// (influxCatalogPath) say how metric names split into measurement and
// field, and the type each field was written with.

// influxCatalogPath serves a storage node's InfluxQL catalog rows of one
// database to query nodes.
const influxCatalogPath = "/api/v1/influxql/catalog"

// peerCatalogRow is one row of influxCatalogPath's answer.
type peerCatalogRow struct {
	DB     string `json:"db"`
	Metric string `json:"metric"`
	M      string `json:"m"`
	F      string `json:"f"`
	T      uint8  `json:"t"` // series.ValueType of the metric's series; 0: none left
}

// serveInfluxCatalog answers influxCatalogPath: the catalog rows of the db
// parameter, or only those of the measurements (or metric names) of the
// m parameters, and the value types of the metric names of the n
// parameters (rows without m and f; asked by query nodes older than
// typed remote read answers), (with the rows of lines written without a
// database when db is the unlabelled database), each with its series'
// value type.
func (s *server) serveInfluxCatalog(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	db := r.FormValue("db")
	if db == "" {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "missing parameter db: the database whose InfluxQL catalog is asked"})
		return
	}
	dbs := []string{db}
	if db == influxql.DefaultOptions().UnlabelledDB {
		dbs = append(dbs, "")
	}
	meas := r.Form["m"] // only these measurements (and metric names), when given
	rows := []peerCatalogRow{}
	for _, c := range s.catalog.Rows(dbs...) {
		if len(meas) > 0 && !slices.Contains(meas, c.Measurement) && !slices.Contains(meas, c.Metric) {
			continue
		}
		rows = append(rows, peerCatalogRow{DB: c.DB, Metric: c.Metric, M: c.Measurement, F: c.Field.Field, T: uint8(s.metricType(c.DB, c.Metric))})
	}
	for _, n := range r.Form["n"] { // metric names whose type alone is asked
		for _, d := range dbs {
			if t := s.metricType(d, n); t != 0 {
				rows = append(rows, peerCatalogRow{DB: d, Metric: n, T: uint8(t)})
			}
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"rows": rows})
}

// metricType returns the value type of a series named metric in db (0
// when there is none).
func (s *server) metricType(db, metric string) series.ValueType {
	nm, err1 := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
	dm, err2 := tagindex.NewMatcher(tagindex.MatchEqual, s.cfg.Influx.DBLabel, db)
	if err1 != nil || err2 != nil {
		return 0
	}
	ids, err := s.db.Index().Postings(minInt64, maxInt64, nm, dm)
	if err != nil || ids.IsEmpty() {
		return 0
	}
	return s.db.Registry().Type(ids.Minimum())
}

const (
	minInt64 = -1<<63 + 1
	maxInt64 = 1<<63 - 2
)

// fanInfluxQL answers InfluxQL statements on a query node.
type fanInfluxQL struct {
	s       *server
	base    influxql.Options
	client  *http.Client
	token   string
	timeout time.Duration
	// maxSamples bounds the samples one statement loads from the peers.
	maxSamples int64
	sem        chan struct{}
	wait       time.Duration
	// opts are the fan-out's options (registerFanout), for the
	// statement's own view of the peers.
	opts fanout.Options
}

// readOpts takes the fan-out's options; its peers' requests are not
// counted in the fan-out's metrics, and share f's HTTP client.
func (f *fanInfluxQL) readOpts(o fanout.Options) {
	o.Registerer = nil
	o.Client = f.client
	f.opts = o
}

// fixedTopology is the peers of one statement.
type fixedTopology struct {
	peers   []fanout.Peer
	missing []string
}

func (t fixedTopology) Peers() ([]fanout.Peer, []string) { return t.peers, t.missing }

// partialChoiceKey carries a /query request's partial_response choice.
type partialChoiceKey struct{}

// influxQLPartialGate reads partial_response (or deny_partial_response)
// of a /query request on a query node into its context, and bounds the
// statements running at once.
func (f *fanInfluxQL) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		for _, name := range []string{"partial_response", "deny_partial_response"} {
			v := r.FormValue(name)
			if v == "" {
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("invalid parameter %q: %q: want true or false", name, v)})
				return
			}
			if name == "deny_partial_response" {
				b = !b
			}
			ctx = context.WithValue(fanout.WithPartialResponse(ctx, b), partialChoiceKey{}, b)
		}
		t := time.NewTimer(f.wait)
		defer t.Stop()
		select {
		case f.sem <- struct{}{}:
		case <-t.C:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("too many queries: %d InfluxQL requests are running and none finished within %s (query.max_concurrent_queries, query.max_queue_duration)", cap(f.sem), f.wait)})
			return
		case <-ctx.Done():
			return
		}
		defer func() { <-f.sem }()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (f *fanInfluxQL) allowPartial(ctx context.Context) bool {
	if v, ok := ctx.Value(partialChoiceKey{}).(bool); ok {
		return v
	}
	pr := f.s.cfg.Cluster.PartialResponse
	return pr == nil || *pr
}

// newFanInfluxQL returns the query node's InfluxQL executor. s.fanout is
// set later (registerFanout), before any request is served.
func (s *server) newFanInfluxQL() (*fanInfluxQL, error) {
	cc, qc := s.cfg.Cluster, s.cfg.Query
	var token string
	if cc.QueryPeerBearerTokenFile != "" {
		b, err := os.ReadFile(cc.QueryPeerBearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.query_peer_bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	maxSamples := qc.MaxSamples
	if maxSamples <= 0 || qc.MaxSamplesInMemory > 0 && int64(qc.MaxSamplesInMemory) < maxSamples {
		maxSamples = int64(qc.MaxSamplesInMemory)
	}
	if maxSamples <= 0 {
		maxSamples = influxql.DefaultOptions().MaxSamples
	}
	def := fanout.DefaultOptions()
	slots, wait := qc.MaxConcurrentQueries, qc.MaxQueueDuration
	if slots <= 0 {
		slots = def.MaxConcurrentQueries
	}
	if wait <= 0 {
		wait = def.MaxQueueDuration
	}
	timeout := cc.QueryPeerTimeout
	if timeout <= 0 {
		timeout = def.PeerTimeout
	}
	return &fanInfluxQL{
		s: s,
		base: influxql.Options{
			DBLabel:    s.cfg.Influx.DBLabel,
			MaxSeries:  qc.MaxSeries,
			MaxSamples: maxSamples,
			MaxPoints:  qc.MaxPoints,
			Timeout:    qc.Timeout,
		},
		client:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}},
		token:      token,
		timeout:    timeout,
		maxSamples: maxSamples,
		sem:        make(chan struct{}, slots),
		wait:       wait,
	}, nil
}

// errQueryNodeStatement refuses what a query node does not do.
var errQueryNodeStatement = errors.New("not served by a query node (cluster.query_peers): it holds no data of its own; send writes, DDL and deletes to the storage (or ingest) nodes")

// influxRead is what a statement reads: databases, measurement names (nil:
// all) and a time range (ns, inclusive).
type influxRead struct {
	dbs        []string
	meas       []string
	minT, maxT int64
}

// influxReadOf works out what stmt reads. ok is false for statements a
// query node does not run.
func influxReadOf(stmt ql.Statement, p influxql.Params, now time.Time) (rd influxRead, ok bool) {
	rd = influxRead{minT: minInt64, maxT: maxInt64}
	addDB := func(db string) {
		if db != "" && !slices.Contains(rd.dbs, db) {
			rd.dbs = append(rd.dbs, db)
		}
	}
	if e, isExplain := stmt.(*ql.ExplainStatement); isExplain {
		stmt = e.Statement
	}
	switch s := stmt.(type) {
	case *ql.SelectStatement:
		narrow := true
		for _, src := range s.Sources {
			m, isM := src.(*ql.Measurement)
			if !isM {
				narrow = false // a subquery: every measurement, all time
				addDB(p.DB)
				continue
			}
			if m.Database != "" {
				addDB(m.Database)
			} else {
				addDB(p.DB)
			}
			if m.Regex != nil || m.Name == "" {
				narrow = false
			} else if !slices.Contains(rd.meas, m.Name) {
				rd.meas = append(rd.meas, m.Name)
			}
		}
		if !narrow {
			rd.meas = nil
			return rd, true
		}
		if s.Condition != nil {
			_, tr, err := ql.ConditionExpr(s.Condition, &ql.NowValuer{Now: now, Location: s.Location})
			if err == nil { // else all time: the executor reports the error
				if nanoRange(tr.Min) {
					rd.minT = tr.Min.UnixNano()
				}
				if nanoRange(tr.Max) {
					// now() here is a little earlier than the executor's.
					rd.maxT = tr.Max.UnixNano() + int64(time.Minute)
				}
			}
		}
		return rd, true
	case *ql.ShowMeasurementsStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowTagKeysStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowTagValuesStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowFieldKeysStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowSeriesStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowMeasurementCardinalityStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowSeriesCardinalityStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowTagKeyCardinalityStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowTagValuesCardinalityStatement:
		addDB(orDB(s.Database, p.DB))
	case *ql.ShowFieldKeyCardinalityStatement:
		addDB(orDB(s.Database, p.DB))
	default:
		return rd, false
	}
	return rd, true
}

// nanoRange reports whether t is set and well inside what int64 ns since
// the epoch can hold (1678-2262).
func nanoRange(t time.Time) bool {
	return !t.IsZero() && t.Year() > 1700 && t.Year() < 2250
}

func orDB(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Execute runs stmt over the series it reads from the peers.
func (f *fanInfluxQL) Execute(ctx context.Context, stmt ql.Statement, p influxql.Params) influxql.Result {
	rd, ok := influxReadOf(stmt, p, time.Now())
	if !ok {
		return influxql.Result{Err: fmt.Errorf("%s: %w", stmt.String(), errQueryNodeStatement)}
	}
	dir, err := os.MkdirTemp("", "lightningdb-influxql-")
	if err != nil {
		return influxql.Result{Err: fmt.Errorf("influxql on a query node: temporary storage: %w", err)}
	}
	defer os.RemoveAll(dir)
	db, err := engine.Open(dir, engine.Options{SyncMode: engine.SyncNone, DisableCompaction: true})
	if err != nil {
		return influxql.Result{Err: fmt.Errorf("influxql on a query node: temporary storage: %w", err)}
	}
	defer db.Close()
	cat := influxql.NewCatalog()
	var msgs []influxql.Message
	if len(rd.dbs) > 0 {
		if msgs, err = f.load(ctx, db, cat, rd); err != nil {
			return influxql.Result{Err: err}
		}
	}
	opts := f.base
	opts.Catalog = cat
	opts.DatabaseExists = func(db string) bool { return f.databaseExists(ctx, db) }
	res := influxql.New(db, opts).Execute(ctx, stmt, p)
	if res.Err == nil {
		res.Messages = append(msgs, res.Messages...)
	}
	return res
}

// load reads rd's series from the peers into db and their catalog rows
// into cat, and returns the warnings of a partial answer.
func (f *fanInfluxQL) load(ctx context.Context, db *engine.DB, cat *influxql.Catalog, rd influxRead) ([]influxql.Message, error) {
	// One view of the peers for the whole statement: a peer whose catalog
	// is not known must not add series (they would read as fields named
	// "value"), and one that failed is not waited for twice.
	peers, missing := f.s.queryTopology().Peers()
	allow := f.allowPartial(ctx)
	// The node's own catalog: in a NATS cluster the catalog is learnt
	// where lines are parsed, on the ingest nodes, and shared with every
	// node through the catalog bucket (cluster.go: shareCatalog). Value
	// types come with the series (typed answers), not from the catalogs.
	var own []influxql.CatalogRow
	if f.s.cluster != nil {
		own = f.s.catalog.Rows(append(slices.Clone(rd.dbs), "")...)
	}
	for _, r := range own {
		if rd.meas == nil || slices.Contains(rd.meas, r.Measurement) || slices.Contains(rd.meas, r.Metric) {
			cat.Add(r)
		}
	}
	failed := map[string]error{} // peer URL: its catalog failed
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range peers {
		for _, d := range rd.dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rows, err := f.peerCatalog(ctx, p, d, rd.meas)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					name := p.URL
					if p.Name != "" && p.Name != p.URL {
						name = p.Name + " (" + p.URL + ")"
					}
					failed[p.URL] = fmt.Errorf("node %s: unavailable, its data is missing from this answer: its InfluxQL catalog: %w", name, err)
					return
				}
				for _, r := range rows {
					if r.M != "" { // not a type-only row (n parameters)
						cat.Add(influxql.CatalogRow{DB: r.DB, Metric: r.Metric, Field: influxql.Field{Measurement: r.M, Field: r.F}})
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(failed) > 0 && !allow {
		errs := make([]error, 0, len(failed))
		for _, e := range failed {
			errs = append(errs, e)
		}
		return nil, fmt.Errorf("%w: partial_response=false: %w", fanout.ErrPartialResponse, errors.Join(errs...))
	}
	ms, err := f.matchers(cat, rd)
	if err != nil {
		return nil, err
	}
	var ok []fanout.Peer
	for _, p := range peers {
		if failed[p.URL] == nil {
			ok = append(ok, p)
		}
	}
	fq, err := fanout.New(fixedTopology{ok, missing}, f.opts)
	if err != nil {
		return nil, err
	}
	// Typed answers (remote.ReadTypedSeries): every value type with its
	// raw value and nanosecond timestamps, as the peers store them.
	list, warnings, err := fq.SelectTyped(ctx, rd.minT, rd.maxT, f.maxSamples, ms...)
	if err != nil {
		if errors.Is(err, fanout.ErrTooManySamples) {
			return nil, fmt.Errorf("%w: the statement reads more than %d samples from the peers (query.max_samples, query.max_samples_in_memory): %w", influxql.ErrTooManySamples, f.maxSamples, err)
		}
		return nil, err
	}
	// Appended in batches of about loadBatch samples, each series
	// released once copied: the statement holds its samples about once.
	const loadBatch = 64 << 10
	var b series.Batch
	for i := range list {
		s := &list[i]
		b.AddCanonical(s.Labels, s.Type)
		for k, t := range s.Ts {
			if s.Type == series.TypeString {
				b.AppendString(t, s.String(k))
			} else {
				b.AppendRaw(t, s.Vals[k])
			}
		}
		list[i] = remote.TypedSeries{}
		if b.Samples() >= loadBatch || i == len(list)-1 {
			if _, err := db.Append(ctx, &b); err != nil {
				return nil, fmt.Errorf("influxql on a query node: temporary storage: %w", err)
			}
			b.Reset()
		}
	}
	var msgs []influxql.Message
	ws, _ := warnings.AsStrings("", 0, 0)
	for _, w := range ws {
		msgs = append(msgs, influxql.Message{Level: "warning", Text: w})
	}
	for _, p := range peers { // in topology order
		if e := failed[p.URL]; e != nil {
			msgs = append(msgs, influxql.Message{Level: "warning", Text: "fanout: " + e.Error()})
		}
	}
	return msgs, nil
}

// matchers selects rd's series: its databases and, when it names its
// measurements, their metric names (the catalog's and the measurement's
// own name for series of other protocols).
func (f *fanInfluxQL) matchers(cat *influxql.Catalog, rd influxRead) ([]*labels.Matcher, error) {
	dbLabel := f.base.DBLabel
	if dbLabel == "" {
		dbLabel = "db"
	}
	var alts []string
	for _, d := range rd.dbs {
		alts = append(alts, regexp.QuoteMeta(d))
		if d == influxql.DefaultOptions().UnlabelledDB {
			alts = append(alts, "")
		}
	}
	dm, err := labels.NewMatcher(labels.MatchRegexp, dbLabel, strings.Join(alts, "|"))
	if err != nil {
		return nil, err
	}
	ms := []*labels.Matcher{dm}
	if rd.meas == nil {
		return ms, nil
	}
	var names []string
	for _, m := range rd.meas {
		names = append(names, regexp.QuoteMeta(m))
	}
	var dbs []string
	dbs = append(dbs, rd.dbs...)
	dbs = append(dbs, "")
	for _, r := range cat.Rows(dbs...) {
		if slices.Contains(rd.meas, r.Measurement) {
			names = append(names, regexp.QuoteMeta(r.Metric))
		}
	}
	slices.Sort(names)
	nm, err := labels.NewMatcher(labels.MatchRegexp, labels.MetricName, strings.Join(slices.Compact(names), "|"))
	if err != nil {
		return nil, err
	}
	return append(ms, nm), nil
}

// peerCatalog asks p for its catalog rows of db.
// (only of the measurements meas, when not nil).
func (f *fanInfluxQL) peerCatalog(ctx context.Context, p fanout.Peer, db string, meas []string) ([]peerCatalogRow, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.URL, "/")+influxCatalogPath,
		strings.NewReader(url.Values{"db": {db}, "m": meas}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var a struct {
		Rows []peerCatalogRow `json:"rows"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	return a.Rows, nil
}

// influxQLExecutor returns the executor of /query: local's, or on a query
// node the fan-out one.
func (s *server) influxQLExecutor(local *influxql.Executor) (ingest.StatementExecutor, error) {
	if !s.fanoutMode() {
		return local, nil
	}
	f, err := s.newFanInfluxQL()
	if err != nil {
		return nil, err
	}
	s.fanInflux = f
	return f, nil
}

// influxRP and influxDeleter are the /query retention policy and delete
// back ends. A query node refuses deletes and changes of policies, and
// lists its own configured policies (SHOW RETENTION POLICIES, which
// Grafana asks).
func (s *server) influxRP() ingest.RetentionPolicies {
	if s.fanoutMode() {
		return queryNodeRP{retentionPolicies{s.ret}}
	}
	return retentionPolicies{s.ret}
}

func (s *server) influxDeleter() ingest.InfluxDeleter {
	if s.fanoutMode() {
		return queryNodeDeleter{}
	}
	return newInfluxDeleter(s.db, s.ds, s.cfg.Influx)
}

type queryNodeDeleter struct{}

func (queryNodeDeleter) DeleteInflux(context.Context, ingest.InfluxDelete) error {
	return fmt.Errorf("delete: %w", errQueryNodeStatement)
}

type queryNodeRP struct{ rps retentionPolicies }

func (q queryNodeRP) RetentionPolicies(db string) ([]ingest.RetentionPolicy, error) {
	return q.rps.RetentionPolicies(db)
}

func (queryNodeRP) CreateRetentionPolicy(string, ingest.RetentionPolicy) error {
	return fmt.Errorf("create retention policy: %w", errQueryNodeStatement)
}

func (queryNodeRP) AlterRetentionPolicy(string, string, ingest.RetentionPolicyChange) error {
	return fmt.Errorf("alter retention policy: %w", errQueryNodeStatement)
}

func (queryNodeRP) DropRetentionPolicy(string, string) error {
	return fmt.Errorf("drop retention policy: %w", errQueryNodeStatement)
}

// queryNodeAppender refuses writes on a query node without the ingest
// role: what it stored locally no query would ever read.
type queryNodeAppender struct{}

func (queryNodeAppender) Append(context.Context, *series.Batch) (series.AppendResult, error) {
	return series.AppendResult{}, fmt.Errorf("%w: writes are not served by a query node (cluster.query_peers, or cluster.roles without ingest): send them to the storage or ingest nodes", series.ErrForbidden)
}

// peerDatabases is the union of the peers' SHOW DATABASES (those that
// answer), for SHOW DATABASES on a query node.
func (s *server) peerDatabases(ctx context.Context) []string {
	f := s.fanInflux
	if f == nil {
		return nil
	}
	peers, _ := s.queryTopology().Peers()
	lists := make(chan []string, len(peers))
	for _, p := range peers {
		go func() { l, _ := f.peerDatabaseList(ctx, p); lists <- l }()
	}
	var out []string
	for range peers {
		out = append(out, <-lists...)
	}
	return out
}

// databaseExists asks the peers' SHOW DATABASES whether one knows db (a
// SELECT on a database without series: InfluxDB's "database not found"
// when none does). A peer that does not answer counts as knowing it: the
// statement then answers empty, with the read's warnings.
func (f *fanInfluxQL) databaseExists(ctx context.Context, db string) bool {
	peers, _ := f.s.queryTopology().Peers()
	found := make(chan bool, len(peers))
	for _, p := range peers {
		go func() { found <- f.peerKnowsDatabase(ctx, p, db) }()
	}
	known := false
	for range peers {
		known = <-found || known
	}
	return known
}

func (f *fanInfluxQL) peerKnowsDatabase(ctx context.Context, p fanout.Peer, db string) bool {
	l, err := f.peerDatabaseList(ctx, p)
	return err != nil || slices.Contains(l, db)
}

// peerDatabaseList asks p's SHOW DATABASES.
func (f *fanInfluxQL) peerDatabaseList(ctx context.Context, p fanout.Peer) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+"/query?q=SHOW+DATABASES", nil)
	if err != nil {
		return nil, err
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("SHOW DATABASES: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&a); err != nil {
		return nil, fmt.Errorf("SHOW DATABASES: %w", err)
	}
	if len(a.Results) != 1 || a.Results[0].Error != "" {
		return nil, fmt.Errorf("SHOW DATABASES: unexpected answer")
	}
	var out []string
	for _, s := range a.Results[0].Series {
		for _, v := range s.Values {
			if n, ok := v[0].(string); ok && len(v) == 1 {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// moreDatabases is what SHOW DATABASES adds: on a query node, the peers'.
func (s *server) moreDatabases() func(context.Context) []string {
	if !s.fanoutMode() {
		return nil
	}
	return s.peerDatabases
}

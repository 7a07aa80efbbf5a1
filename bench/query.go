package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// QueryShape is one TSBS cpu-only query shape, written in PromQL and in
// InfluxQL over the devops data set.
type QueryShape struct {
	Name   string
	TSBS   string        // the TSBS query type it mirrors
	Hosts  int           // hosts selected (0 = all)
	Fields int           // fields read
	Window time.Duration // query time range
	Step   time.Duration // group-by interval
	Mean   bool          // mean per step (double-groupby) instead of max
	// TSBSForm: PromQL as TSBS writes it for VictoriaMetrics (tsbs_query.go).
	TSBSForm bool
	// iql: InfluxQL as TSBS writes it for InfluxDB (tsbs_influxql.go).
	iql tsbsIQLKind
}

// QueryShapes are the TSBS cpu-only shapes of the query issue.
var QueryShapes = []QueryShape{
	{Name: "max-1field-1host-1h", TSBS: "single-groupby-1-1-1", Hosts: 1, Fields: 1, Window: time.Hour, Step: time.Minute},
	{Name: "max-1field-1host-12h", TSBS: "single-groupby-1-1-12", Hosts: 1, Fields: 1, Window: 12 * time.Hour, Step: time.Minute},
	{Name: "max-1field-8hosts-1h", TSBS: "single-groupby-1-8-1", Hosts: 8, Fields: 1, Window: time.Hour, Step: time.Minute},
	{Name: "max-5fields-1host-1h", TSBS: "single-groupby-5-1-1", Hosts: 1, Fields: 5, Window: time.Hour, Step: time.Minute},
	{Name: "mean-5fields-by-host-12h", TSBS: "double-groupby-5", Fields: 5, Window: 12 * time.Hour, Step: time.Hour, Mean: true},
	{Name: "mean-10fields-by-host-12h", TSBS: "double-groupby-all", Fields: 10, Window: 12 * time.Hour, Step: time.Hour, Mean: true},
}

// QueryInstance is one concrete query of a shape.
type QueryInstance struct {
	Hosts      []string
	Start, End time.Time
}

// Instances returns n instances of s drawn from seed over hosts host_0..
// host_{nHosts-1} and data in [dataStart, dataEnd): windows aligned to the
// step, lying wholly inside the data.
func (s QueryShape) Instances(seed uint64, n, nHosts int, dataStart, dataEnd time.Time) []QueryInstance {
	r := rand.New(rand.NewPCG(seed, uint64(len(s.Name))<<32|uint64(s.Hosts)<<16|uint64(s.Fields)))
	span := dataEnd.Sub(dataStart) - s.Window
	out := make([]QueryInstance, n)
	for i := range out {
		var off time.Duration
		if steps := int64(span / s.Step); steps > 0 {
			off = time.Duration(r.Int64N(steps+1)) * s.Step
		}
		start := dataStart.Truncate(s.Step)
		if start.Before(dataStart) {
			start = start.Add(s.Step)
		}
		start = start.Add(off)
		q := QueryInstance{Start: start, End: start.Add(s.Window)}
		if s.Hosts > 0 {
			for _, h := range r.Perm(nHosts)[:min(s.Hosts, nHosts)] {
				q.Hosts = append(q.Hosts, "host_"+strconv.Itoa(h))
			}
		}
		out[i] = q
	}
	return out
}

func (s QueryShape) hostMatcher(q QueryInstance) string {
	switch len(q.Hosts) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(`,hostname=%q`, q.Hosts[0])
	}
	return fmt.Sprintf(`,hostname=~%q`, strings.Join(q.Hosts, "|"))
}

// PromQL returns the expression of s for q, evaluated as a range query
// from q.Start+Step to q.End at Step. Range functions drop the metric name,
// so several fields are kept apart with label_replace into a "field" label
// (a plain __name__ regex would give duplicate label sets, an error).
func (s QueryShape) PromQL(q QueryInstance) string {
	if s.TSBSForm {
		return s.tsbsPromQL(q)
	}
	fn := "max_over_time"
	if s.Mean {
		fn = "avg_over_time"
	}
	win := promDuration(s.Step)
	sel := func(f string) string {
		return fmt.Sprintf(`%s(cpu_%s{db=%q%s}[%s])`, fn, f, DB, s.hostMatcher(q), win)
	}
	if s.Fields == 1 {
		if len(q.Hosts) == 1 {
			return sel(cpuFields[0])
		}
		return "max(" + sel(cpuFields[0]) + ")"
	}
	parts := make([]string, s.Fields)
	for i, f := range cpuFields[:s.Fields] {
		parts[i] = fmt.Sprintf(`label_replace(%s, "field", %q, "", "")`, sel(f), f)
	}
	union := strings.Join(parts, " or ")
	if s.Mean {
		return "avg by (hostname, field) (" + union + ")"
	}
	return "max by (hostname) (" + union + ")"
}

// InfluxQL returns the InfluxQL form of s for q, as TSBS writes it for
// InfluxDB: several fields are aggregated each on its own (max per field,
// where PromQL takes the max across them; the data read is the same).
func (s QueryShape) InfluxQL(q QueryInstance) string {
	if s.iql != iqlNone {
		return s.tsbsInfluxQL(q)
	}
	fn := "max"
	if s.Mean {
		fn = "mean"
	}
	sel := make([]string, s.Fields)
	for i, f := range cpuFields[:s.Fields] {
		sel[i] = fmt.Sprintf(`%s(%q)`, fn, f)
	}
	where := fmt.Sprintf("time > %d AND time <= %d", q.Start.UnixNano(), q.End.UnixNano())
	if len(q.Hosts) > 0 {
		or := make([]string, len(q.Hosts))
		for i, h := range q.Hosts {
			or[i] = fmt.Sprintf("hostname = '%s'", h)
		}
		where = "(" + strings.Join(or, " OR ") + ") AND " + where
	}
	group := "time(" + promDuration(s.Step) + ")"
	if s.Hosts == 0 {
		group += ", hostname"
	}
	return fmt.Sprintf(`SELECT %s FROM "cpu" WHERE %s GROUP BY %s`, strings.Join(sel, ", "), where, group)
}

func promDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// QueryResult is the latency of one shape on one target.
type QueryResult struct {
	Shape       string  `json:"shape"`
	TSBS        string  `json:"tsbs"`
	Latency     Latency `json:"latency"`
	Errors      int     `json:"errors"`
	Empty       int     `json:"empty"`  // answers with no series: a data or query mismatch
	Points      int64   `json:"points"` // values returned, summed over the queries
	FirstError  string  `json:"first_error,omitempty"`
	Unsupported string  `json:"unsupported,omitempty"`
}

// RunQueries runs each instance of s against base sequentially (one query
// in flight: latency, not throughput), bounded by maxDur.
func RunQueries(ctx context.Context, base string, lang QueryLang, s QueryShape, qs []QueryInstance, maxDur time.Duration) QueryResult {
	res := QueryResult{Shape: s.Name, TSBS: s.TSBS}
	client := &http.Client{Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(maxDur)
	var lat []time.Duration
	for _, q := range qs {
		if ctx.Err() != nil || (maxDur > 0 && time.Now().After(deadline)) {
			break
		}
		if !runQuery(ctx, client, base, lang, s, q, &res, &lat) {
			break
		}
	}
	res.Latency = Summarize(lat)
	return res
}

// runQuery sends q of s to base, adding its latency to lat or its error
// to res; it reports false when the target does not support queries
// (res.Unsupported set).
func runQuery(ctx context.Context, client *http.Client, base string, lang QueryLang, s QueryShape, q QueryInstance, res *QueryResult, lat *[]time.Duration) bool {
	var u string
	if lang == InfluxQL {
		u = base + "/query?" + url.Values{"db": {DB}, "epoch": {"ms"}, "q": {s.InfluxQL(q)}}.Encode()
	} else {
		u = base + "/api/v1/query_range?" + url.Values{
			"query": {s.PromQL(q)}, "start": {unixSeconds(q.Start.Add(s.Step))},
			"end": {unixSeconds(q.End)}, "step": {promDuration(s.Step)},
		}.Encode()
	}
	t0 := time.Now()
	status, body, err := get(ctx, client, u)
	d := time.Since(t0)
	if err == nil && (status == 404 || status == 405) {
		res.Unsupported = fmt.Sprintf("unsupported by target: query API answered %d", status)
		return false
	}
	var points int64
	if err == nil {
		points, err = countPoints(lang, status, body)
	}
	if err != nil {
		res.Errors++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
		return true
	}
	*lat = append(*lat, d)
	res.Points += points
	if points == 0 {
		res.Empty++
	}
	return true
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func get(ctx context.Context, c *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, b, err
}

// countPoints checks a query answer and counts the values in it.
func countPoints(lang QueryLang, status int, body []byte) (int64, error) {
	short := func() string { return string(body[:min(len(body), 300)]) }
	if status != 200 {
		return 0, fmt.Errorf("%d %s", status, short())
	}
	var n int64
	if lang == InfluxQL {
		var r struct {
			Results []struct {
				Error  string `json:"error"`
				Series []struct {
					Values [][]any `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return 0, fmt.Errorf("decode: %w", err)
		}
		for _, res := range r.Results {
			if res.Error != "" {
				return 0, fmt.Errorf("influxql: %s", res.Error)
			}
			for _, s := range res.Series {
				for _, v := range s.Values {
					for _, x := range v[1:] {
						if x != nil {
							n++
						}
					}
				}
			}
		}
		return n, nil
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("promql: %s", r.Error)
	}
	for _, s := range r.Data.Result {
		n += int64(len(s.Values))
	}
	return n, nil
}

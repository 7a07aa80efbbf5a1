package bench

import (
	"strings"
	"testing"
	"time"
)

func TestQueryInstances(t *testing.T) {
	end := t0.Add(24 * time.Hour)
	for i, s := range QueryShapes {
		a := s.Instances(uint64(i), 50, 100, t0, end)
		b := s.Instances(uint64(i), 50, 100, t0, end)
		for j := range a {
			q := a[j]
			if q.Start.Before(t0) || q.End.After(end) || q.End.Sub(q.Start) != s.Window {
				t.Fatalf("%s: window %v..%v outside the data", s.Name, q.Start, q.End)
			}
			if !q.Start.Equal(q.Start.Truncate(s.Step)) {
				t.Fatalf("%s: start %v not aligned to %v", s.Name, q.Start, s.Step)
			}
			if len(q.Hosts) != s.Hosts {
				t.Fatalf("%s: %d hosts", s.Name, len(q.Hosts))
			}
			if !q.Start.Equal(b[j].Start) || strings.Join(q.Hosts, ",") != strings.Join(b[j].Hosts, ",") {
				t.Fatalf("%s: not deterministic", s.Name)
			}
		}
	}
}

func TestQueryText(t *testing.T) {
	q := QueryInstance{Hosts: []string{"host_1", "host_2"}, Start: t0, End: t0.Add(time.Hour)}
	got := QueryShapes[2].PromQL(q)
	want := `max(max_over_time(cpu_usage_user{db="bench",hostname=~"host_1|host_2"}[1m]))`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	mean := QueryShapes[4].PromQL(QueryInstance{Start: t0, End: t0.Add(12 * time.Hour)})
	if !strings.HasPrefix(mean, "avg by (hostname, field) (label_replace(avg_over_time(cpu_usage_user{db=\"bench\"}[1h]), \"field\", \"usage_user\"") ||
		strings.Count(mean, " or ") != 4 {
		t.Fatalf("mean shape: %s", mean)
	}
	iq := QueryShapes[3].InfluxQL(QueryInstance{Hosts: []string{"host_9"}, Start: t0, End: t0.Add(time.Hour)})
	if !strings.Contains(iq, `SELECT max("usage_user"), max("usage_system"), max("usage_idle"), max("usage_nice"), max("usage_iowait") FROM "cpu" WHERE (hostname = 'host_9') AND time > `) ||
		!strings.HasSuffix(iq, "GROUP BY time(1m)") {
		t.Fatalf("influxql: %s", iq)
	}
}

func TestCountPoints(t *testing.T) {
	n, err := countPoints(PromQL, 200, []byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"],[2,"3"]]},{"metric":{},"values":[[1,"2"]]}]}}`))
	if err != nil || n != 3 {
		t.Fatalf("promql: %d %v", n, err)
	}
	if _, err := countPoints(PromQL, 422, []byte(`{"status":"error","error":"bad"}`)); err == nil {
		t.Fatal("422 accepted")
	}
	n, err = countPoints(InfluxQL, 200, []byte(`{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","max","max_1"],"values":[[1,5,null],[2,6,7]]}]}]}`))
	if err != nil || n != 3 {
		t.Fatalf("influxql: %d %v", n, err)
	}
	if _, err := countPoints(InfluxQL, 200, []byte(`{"results":[{"statement_id":0,"error":"database not found"}]}`)); err == nil {
		t.Fatal("statement error accepted")
	}
}

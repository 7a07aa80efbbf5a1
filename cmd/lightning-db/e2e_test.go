package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// TestInfluxClientsEndToEnd writes with the InfluxDB v2 Go client and with
// raw HTTP shaped like Telegraf's v1 output, restarts the server, and reads
// every point back value by value.
func TestInfluxClientsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)

	// InfluxDB v2 client, blocking writes: each call returns after the
	// server's 204, i.e. after the group commit.
	client := influxdb2.NewClient(p.url(""), "any-token")
	defer client.Close()
	health, err := client.Health(context.Background())
	if err != nil || health.Status != "pass" {
		t.Fatalf("health: %+v %v", health, err)
	}
	wapi := client.WriteAPIBlocking("myorg", "iot")
	base := time.Unix(1_700_000_000, 0)
	for i := range 50 {
		pt := influxdb2.NewPoint("env",
			map[string]string{"device": fmt.Sprintf("d%d", i%5), "site": "lab"},
			map[string]any{"temp": 20 + float64(i)/4, "count": int64(i) - 25, "door": i%2 == 0, "fw": fmt.Sprintf("v1.%d", i)},
			base.Add(time.Duration(i)*time.Second))
		if err := wapi.WritePoint(context.Background(), pt); err != nil {
			t.Fatalf("v2 client write %d: %v", i, err)
		}
	}

	// Telegraf v1: CREATE DATABASE at start-up, then gzip bodies without a
	// precision (nanosecond timestamps).
	resp := post(t, p.url("/query"), "application/x-www-form-urlencoded", []byte("q=CREATE+DATABASE+%22telegraf%22"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("CREATE DATABASE: %d", resp.StatusCode)
	}
	var body bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&body, "cpu,host=h%d,cpu=cpu-total usage_idle=%d.5,usage_user=%di,uptime=%du %d\n",
			i%10, 90+i%10, i, uint64(1)<<63+uint64(i), base.Add(time.Duration(i)*10*time.Second).UnixNano())
	}
	resp = post(t, p.url("/write?db=telegraf"), "text/plain; charset=utf-8", gz(body.Bytes()), map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != 204 {
		t.Fatalf("telegraf write: %d", resp.StatusCode)
	}

	check := func(p *proc) {
		t.Helper()
		got := p.export(`{db="iot"}`)
		if len(got) != 4*5 {
			t.Fatalf("v2 client data: %d series, want 20", len(got))
		}
		for i := range 50 {
			dev := fmt.Sprintf("d%d", i%5)
			ts := base.Add(time.Duration(i) * time.Second).UnixNano()
			wantVal(t, got, "env_temp{db=iot,device="+dev+",site=lab}", ts, fmt.Sprint(20+float64(i)/4))
			wantVal(t, got, "env_count{db=iot,device="+dev+",site=lab}", ts, fmt.Sprint(i-25))
			wantVal(t, got, "env_door{db=iot,device="+dev+",site=lab}", ts, fmt.Sprint(i%2 == 0))
			wantVal(t, got, "env_fw{db=iot,device="+dev+",site=lab}", ts, fmt.Sprintf("v1.%d", i))
		}
		got = p.export(`{db="telegraf"}`)
		if len(got) != 30 {
			t.Fatalf("telegraf data: %d series, want 30", len(got))
		}
		for i := range 100 {
			key := fmt.Sprintf("{cpu=cpu-total,db=telegraf,host=h%d}", i%10)
			ts := base.Add(time.Duration(i) * 10 * time.Second).UnixNano()
			wantVal(t, got, "cpu_usage_idle"+key, ts, fmt.Sprintf("%d.5", 90+i%10))
			wantVal(t, got, "cpu_usage_user"+key, ts, fmt.Sprint(i))
			wantVal(t, got, "cpu_uptime"+key, ts, fmt.Sprint(uint64(1)<<63+uint64(i)))
		}
		if got["cpu_uptime{cpu=cpu-total,db=telegraf,host=h0}"].Type != "unsigned" {
			t.Fatal("unsigned field lost its type")
		}
	}
	check(p)
	p.stop()
	p = startServer(t, dir)
	check(p)
	// And after SIGKILL: only the WAL is left to tell.
	p.kill()
	p = startServer(t, dir)
	check(p)
	p.stop()
}

// TestPartialWriteAndTypeConflict sends valid and invalid lines in one
// request, then a type conflict in a later request.
func TestPartialWriteAndTypeConflict(t *testing.T) {
	p := startServer(t, t.TempDir())
	defer p.stop()
	body := "m,k=a v=1 1000\nm,k=b v=oops 1000\nm,k=c v=3 1000\n"
	resp := post(t, p.url("/write?db=x&precision=ns"), "", []byte(body), nil)
	msg := readBody(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(msg, "line 2") {
		t.Fatalf("partial write: %d %s", resp.StatusCode, msg)
	}
	got := p.export(`{__name__="m_v"}`)
	if len(got) != 2 {
		t.Fatalf("valid lines of the request not stored: %v", got)
	}
	// m_v{k=a} is a float series: an integer for it is rejected by line.
	resp = post(t, p.url("/write?db=x"), "", []byte("m,k=z v=5 2000\nm,k=a v=7i 2000\n"), nil)
	msg = readBody(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(msg, "line 2") || !strings.Contains(msg, "conflict") {
		t.Fatalf("type conflict: %d %s", resp.StatusCode, msg)
	}
	got = p.export(`{__name__="m_v"}`)
	if len(got) != 3 || len(got["m_v{db=x,k=a}"].Values) != 1 {
		t.Fatalf("after the conflict: %v", got)
	}
}

// TestAcknowledgedWritesSurviveKill9 writes from several clients and kills
// the server mid-stream: every 204 must be there after the restart.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	var mu sync.Mutex
	acked := map[string]int{} // series key -> count of acknowledged points
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var n atomic.Int64
	enough := make(chan struct{}) // closed at the 400th 204: mid-stream
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				line := fmt.Sprintf("k9,client=c%d v=%di %d\n", c, i, int64(i)*1e9)
				req, _ := http.NewRequest("POST", p.url("/write?db=k"), strings.NewReader(line))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == 204 {
					mu.Lock()
					acked[fmt.Sprintf("k9_v{client=c%d,db=k}", c)] = i + 1
					mu.Unlock()
					if n.Add(1) == 400 {
						close(enough)
					}
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d writes acknowledged in 20 s; log:\n%s", n.Load(), p.log)
	}
	p.kill()
	close(stop)
	wg.Wait()
	p = startServer(t, dir)
	defer p.stop()
	got := p.export(`{db="k"}`)
	total := 0
	for key, n := range acked {
		e := got[key]
		if len(e.Values) < n {
			t.Fatalf("%s: %d points acknowledged, %d after kill -9", key, n, len(e.Values))
		}
		for i := range n {
			if fmt.Sprint(e.Values[i]) != fmt.Sprint(i) || e.Timestamps[i] != int64(i)*1e9 {
				t.Fatalf("%s point %d: %v@%d", key, i, e.Values[i], e.Timestamps[i])
			}
		}
		total += n
	}
	if total == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}
	t.Logf("%d acknowledged writes survived SIGKILL", total)
}

func TestReadyMetricsAndShutdown(t *testing.T) {
	p := startServer(t, t.TempDir(), "--log-format", "json")
	post(t, p.url("/write?db=m"), "", []byte("a v=1\n"), nil)
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	m := readBody(t, resp)
	for _, want := range []string{
		`lightningdb_ingest_samples_received_total{protocol="influx"} 1`,
		"lightningdb_engine_wal_fsync_duration_seconds_bucket",
		"lightningdb_engine_memtable_bytes",
		"lightningdb_engine_series 1",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(p.url("/ping"))
	if err != nil || resp.StatusCode != 204 || resp.Header.Get("X-Influxdb-Version") == "" {
		t.Fatalf("ping: %v %v", resp, err)
	}
	p.stop()
	var sawJSON bool
	for _, line := range strings.Split(strings.TrimSpace(p.log.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] != nil {
			sawJSON = true
		}
	}
	if !sawJSON || !strings.Contains(p.log.String(), `"msg":"stopped"`) {
		t.Fatalf("expected JSON logs ending with stopped:\n%s", p.log)
	}
}

func wantVal(t *testing.T, got map[string]exported, key string, ts int64, want string) {
	t.Helper()
	e, ok := got[key]
	if !ok {
		t.Fatalf("series %s missing", key)
	}
	for i, at := range e.Timestamps {
		if at == ts {
			if fmt.Sprint(e.Values[i]) != want {
				t.Fatalf("%s at %d = %v, want %s", key, ts, e.Values[i], want)
			}
			return
		}
	}
	t.Fatalf("%s has no point at %d", key, ts)
}

func post(t *testing.T, url, ctype string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// iqlBase is where the comparison data set starts: 2023-11-14T22:00:00Z,
// an hour boundary, so absolute time filters (as Grafana sends them, in
// ms) pin every answer.
var iqlBase = time.Unix(1699999200, 0).UTC()

const iqlDB = "iqlcmp"

// iqlMS is iqlBase+d as Grafana writes a time bound: "<epoch ms>ms".
func iqlMS(d time.Duration) string { return fmt.Sprintf("%dms", iqlBase.Add(d).UnixMilli()) }

// iqlRFC is iqlBase+d as an RFC 3339 string literal.
func iqlRFC(d time.Duration) string { return "'" + iqlBase.Add(d).Format(time.RFC3339) + "'" }

// iqlRange is Grafana's $timeFilter over [iqlBase+from, iqlBase+to].
func iqlRange(from, to time.Duration) string {
	return fmt.Sprintf("time >= %s and time <= %s", iqlMS(from), iqlMS(to))
}

// iqlDataset is the comparison data set as line protocol bodies:
//   - weather{city,region}: temp float, hum integer, sky string (paris:
//     even minutes only), rain boolean; every minute for 2 h; tokyo has no
//     points in minutes 30-49 and london none in 70-79 (gaps for fill);
//   - sys{host,dc}: value float, load integer; every 10 s for 1 h; host d
//     stops after 30 min;
//   - net{host}: bytes_recv integer counter (host a resets at 30 min),
//     every 30 s for 1 h;
//   - "h2o feet"{location}: level float, a measurement name and a tag
//     value with spaces, every 6 min for 1 h;
//   - cpu: TSBS cpu-only rows for 10 hosts, every 10 s for 12 h
//     (tsbsE2EData, integer fields);
//   - recent{host}: value float every 5 min from 55 to 5 min before now,
//     for Grafana's now()-relative filters.
func iqlDataset(now time.Time) [][]byte {
	var b bytes.Buffer
	ns := func(d time.Duration) int64 { return iqlBase.Add(d).UnixNano() }
	cities := []struct{ name, region string }{{"london", "eu"}, {"paris", "eu"}, {"tokyo", "asia"}}
	descs := []string{"sunny", "cloudy", "rain", "fog"}
	for i := range 120 {
		for c, city := range cities {
			if (c == 2 && i >= 30 && i < 50) || (c == 0 && i >= 70 && i < 80) {
				continue
			}
			temp := float64(10*c) + float64((i*37+c*11)%50)/10 - 2.5
			fmt.Fprintf(&b, "weather,city=%s,region=%s temp=%g,hum=%di,rain=%v", city.name, city.region,
				temp, 40+(i*13+c*7)%45, (i+c)%3 == 0)
			if c != 1 || i%2 == 0 {
				fmt.Fprintf(&b, `,sky="%s"`, descs[(i/10+c)%4])
			}
			fmt.Fprintf(&b, " %d\n", ns(time.Duration(i)*time.Minute))
		}
	}
	for i := range 360 {
		for h, host := range []string{"a", "b", "c", "d"} {
			if h == 3 && i >= 180 {
				continue
			}
			fmt.Fprintf(&b, "sys,dc=%s,host=%s value=%g,load=%di %d\n", []string{"x", "x", "y", "y"}[h], host,
				float64((i*7+h*13)%100)/4+float64(h), (i+h)%9, ns(time.Duration(i)*10*time.Second))
		}
	}
	var recv [2]int64
	for i := range 120 {
		for h, host := range []string{"a", "b"} {
			recv[h] += int64((i*17+h*5)%100 + 1)
			if h == 0 && i == 60 {
				recv[h] = 3
			}
			fmt.Fprintf(&b, "net,host=%s bytes_recv=%di %d\n", host, recv[h], ns(time.Duration(i)*30*time.Second))
		}
	}
	for i := range 10 {
		for l, loc := range []string{`santa\ monica`, "coyote_creek"} {
			fmt.Fprintf(&b, "h2o\\ feet,location=%s level=%g %d\n", loc, 2+float64((i*3+l*5)%11)/8, ns(time.Duration(i)*6*time.Minute))
		}
	}
	recent := now.Truncate(time.Minute)
	for i := 1; i <= 11; i++ {
		for h, host := range []string{"a", "b"} {
			fmt.Fprintf(&b, "recent,host=%s value=%g %d\n", host, float64(i*(h+2))/3, recent.Add(-time.Duration(i)*5*time.Minute).UnixNano())
		}
	}
	return append([][]byte{b.Bytes()}, newTSBSE2EData(iqlBase, 10, 12*360).lineProtocol()...)
}

// iqlPair is InfluxDB and Lightning DB with the same data loaded.
type iqlPair struct {
	ref *influxPeer
	ldb *proc
}

// startIQLPair starts both servers, creates iqlDB on both and writes the
// data set to both.
func startIQLPair(t *testing.T) *iqlPair {
	t.Helper()
	ref := startInfluxd(t)
	ldb := startServer(t, t.TempDir())
	data := iqlDataset(time.Now())
	for _, base := range []string{ref.url(""), ldb.url("")} {
		a := queryIQL(t, base, "", iqlRequest{q: "CREATE DATABASE " + iqlDB, post: true})
		if a.status != 200 {
			t.Fatalf("CREATE DATABASE at %s: %d %s", base, a.status, a.body)
		}
		for _, body := range data {
			writeLP(t, base, iqlDB, body)
		}
	}
	return &iqlPair{ref: ref, ldb: ldb}
}

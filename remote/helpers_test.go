package remote

import (
	"context"

	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// engineStorage adapts the engine to Storage, as cmd does.
type engineStorage struct{ db *engine.DB }

func (e engineStorage) Postings(_ context.Context, minT, maxT int64, ms ...*tagindex.Matcher) (*roaring.Bitmap, error) {
	return e.db.Index().Postings(minT, maxT, ms...)
}
func (e engineStorage) Labels(id series.ID) []byte { return e.db.Registry().Labels(id) }
func (e engineStorage) Select(id series.ID, minT, maxT int64, reuse Iterator) Iterator {
	it, _ := reuse.(*engine.Iterator)
	return e.db.Select(id, minT, maxT, it)
}

func openEngine(tb testing.TB, sync engine.SyncMode) *engine.DB {
	tb.Helper()
	db, err := engine.Open(tb.TempDir(), engine.Options{SyncMode: sync})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	return db
}

func newTestHandler(tb testing.TB, opts Options) (*Handler, *engine.DB) {
	tb.Helper()
	db := openEngine(tb, engine.SyncNone)
	h, err := NewHandler(db, engineStorage{db}, opts)
	require.NoError(tb, err)
	return h, db
}

const ctV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

func v1Body(tb testing.TB, req *prompb.WriteRequest) []byte {
	data, err := req.Marshal()
	require.NoError(tb, err)
	return s2.EncodeSnappy(nil, data)
}

// v2Request builds a 2.0 request from 1.0-shaped series.
func v2Request(series []prompb.TimeSeries) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, ts := range series {
		var refs []uint32
		for _, l := range ts.Labels { // keep the given order: tests send bad orders on purpose
			refs = append(refs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		out := writev2.TimeSeries{LabelsRefs: refs}
		for _, s := range ts.Samples {
			out.Samples = append(out.Samples, writev2.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		req.Timeseries = append(req.Timeseries, out)
	}
	req.Symbols = st.Symbols()
	return req
}

func v2Body(tb testing.TB, req *writev2.Request) []byte {
	data, err := req.Marshal()
	require.NoError(tb, err)
	return s2.EncodeSnappy(nil, data)
}

func post(h http.Handler, path, ct string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	r.Header.Set("Content-Encoding", "snappy")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func mux(h *Handler) *http.ServeMux {
	m := http.NewServeMux()
	h.Register(m)
	return m
}

// readSamplesResp sends a SAMPLES read request and decodes the answer.
func readSamplesResp(tb testing.TB, h http.Handler, q *prompb.Query) *prompb.ReadResponse {
	tb.Helper()
	req := &prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}}
	data, err := req.Marshal()
	require.NoError(tb, err)
	w := post(h, "/api/v1/read", "application/x-protobuf", s2.EncodeSnappy(nil, data))
	require.Equal(tb, http.StatusOK, w.Code, w.Body.String())
	require.Equal(tb, "snappy", w.Header().Get("Content-Encoding"))
	raw, err := s2.Decode(nil, w.Body.Bytes())
	require.NoError(tb, err)
	var resp prompb.ReadResponse
	require.NoError(tb, resp.Unmarshal(raw))
	return &resp
}

// readChunksResp sends a STREAMED_XOR_CHUNKS read request, checks every
// frame's checksum and decodes the chunks back to samples.
func readChunksResp(tb testing.TB, h http.Handler, q *prompb.Query) []prompb.TimeSeries {
	tb.Helper()
	req := &prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}}
	data, err := req.Marshal()
	require.NoError(tb, err)
	w := post(h, "/api/v1/read", "application/x-protobuf", s2.EncodeSnappy(nil, data))
	require.Equal(tb, http.StatusOK, w.Code, w.Body.String())
	require.Equal(tb, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse", w.Header().Get("Content-Type"))
	return decodeFrames(tb, w.Body)
}

func decodeFrames(tb testing.TB, r io.Reader) []prompb.TimeSeries {
	tb.Helper()
	body, err := io.ReadAll(r)
	require.NoError(tb, err)
	var out []prompb.TimeSeries
	for len(body) > 0 {
		n, k := binary.Uvarint(body)
		require.Greater(tb, k, 0)
		body = body[k:]
		sum := binary.BigEndian.Uint32(body)
		payload := body[4 : 4+n]
		require.Equal(tb, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)), sum, "frame checksum")
		body = body[4+n:]
		var msg prompb.ChunkedReadResponse
		require.NoError(tb, msg.Unmarshal(payload))
		for _, cs := range msg.ChunkedSeries {
			if len(out) == 0 || labels.Compare(prompbLabels(out[len(out)-1].Labels), prompbLabels(cs.Labels)) != 0 {
				out = append(out, prompb.TimeSeries{Labels: cs.Labels})
			}
			last := &out[len(out)-1]
			for _, c := range cs.Chunks {
				require.Equal(tb, prompb.Chunk_XOR, c.Type)
				chk, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
				require.NoError(tb, err)
				it := chk.Iterator(nil)
				for it.Next() == chunkenc.ValFloat {
					t, v := it.At()
					last.Samples = append(last.Samples, prompb.Sample{Timestamp: t, Value: v})
				}
				require.NoError(tb, it.Err())
				require.Equal(tb, c.MinTimeMs, last.Samples[len(last.Samples)-it0(c, last)].Timestamp)
				require.Equal(tb, c.MaxTimeMs, last.Samples[len(last.Samples)-1].Timestamp)
			}
		}
	}
	return out
}

// it0 returns how many samples chunk c held (to find its first sample).
func it0(c prompb.Chunk, _ *prompb.TimeSeries) int {
	chk, _ := chunkenc.FromData(chunkenc.EncXOR, c.Data)
	return chk.NumSamples()
}

func prompbLabels(ls []prompb.Label) labels.Labels {
	b := labels.NewScratchBuilder(len(ls))
	for _, l := range ls {
		b.Add(l.Name, l.Value)
	}
	return b.Labels()
}

type httptestRecorder = httptest.ResponseRecorder

func newReq(body []byte, ct string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

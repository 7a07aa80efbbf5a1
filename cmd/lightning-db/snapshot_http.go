package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// registerSnapshots serves the snapshot endpoints through the admin guard
// (the one delete_series has):
//
//   - Prometheus': POST or PUT /api/v1/admin/tsdb/snapshot answers
//     {"status":"success","data":{"name":"NAME"}} (skip_head is accepted
//     and ignored: the WAL is always in the snapshot).
//   - VictoriaMetrics': /snapshot/create {"status":"ok","snapshot":"NAME"},
//     /snapshot/list {"status":"ok","snapshots":[...]},
//     /snapshot/delete?snapshot=NAME and /snapshot/delete_all
//     {"status":"ok"}; errors {"status":"error","msg":"..."} (GET or POST,
//     as VictoriaMetrics).
func (s *server) registerSnapshots(reg prometheus.Registerer) {
	sn := newSnapshotter(s, reg)
	// Their rules (authroutes.go) ask for an unlimited admin token.
	s.rm.Handle("/api/v1/admin/tsdb/snapshot", http.HandlerFunc(sn.servePromSnapshot))
	s.rm.Handle("/snapshot/create", vmSnapshotHandler(func(r *http.Request) (any, error) {
		name, err := sn.create()
		return map[string]string{"status": "ok", "snapshot": name}, err
	}))
	s.rm.Handle("/snapshot/list", vmSnapshotHandler(func(r *http.Request) (any, error) {
		names, err := sn.list()
		return map[string]any{"status": "ok", "snapshots": names}, err
	}))
	s.rm.Handle("/snapshot/delete", vmSnapshotHandler(func(r *http.Request) (any, error) {
		return map[string]string{"status": "ok"}, sn.delete(r.FormValue("snapshot"))
	}))
	s.rm.Handle("/snapshot/delete_all", vmSnapshotHandler(func(r *http.Request) (any, error) {
		return map[string]string{"status": "ok"}, sn.deleteAll()
	}))
}

// servePromSnapshot is Prometheus' snapshot endpoint.
func (sn *snapshotter) servePromSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		writeSnapshotJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "error",
			"errorType": "bad_data", "error": "method " + r.Method + " not allowed: use POST or PUT"})
		return
	}
	name, err := sn.create()
	if err != nil {
		writeSnapshotJSON(w, http.StatusInternalServerError, map[string]string{"status": "error",
			"errorType": "internal", "error": err.Error()})
		return
	}
	writeSnapshotJSON(w, http.StatusOK, map[string]any{"status": "success", "data": map[string]string{"name": name}})
}

// vmSnapshotHandler answers fn's body, or VictoriaMetrics' error shape:
// 400 for a bad name, 404 for a missing snapshot, 500 otherwise.
func vmSnapshotHandler(fn func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeSnapshotJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "error",
				"msg": "method " + r.Method + " not allowed: use GET or POST"})
			return
		}
		body, err := fn(r)
		if err != nil {
			status := http.StatusInternalServerError
			switch {
			case errors.Is(err, errBadSnapshotName):
				status = http.StatusBadRequest
			case errors.Is(err, errNoSnapshot):
				status = http.StatusNotFound
			}
			writeSnapshotJSON(w, status, map[string]string{"status": "error", "msg": err.Error()})
			return
		}
		writeSnapshotJSON(w, http.StatusOK, body)
	})
}

func writeSnapshotJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

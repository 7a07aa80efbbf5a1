package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ui"
)

// registerUI serves the web UI at / (ui package: assets embedded, no
// network needed) and the two status endpoints only it needs: the
// effective configuration with its secrets masked, and the partitions on
// disk.
func (s *server) registerUI() {
	h := ui.Handler()
	s.rm.Handle("/{$}", h)
	s.rm.Handle("/ui/", h)
	s.rm.HandleFunc("/api/v1/status/config", s.serveConfig)
	s.rm.HandleFunc("/api/v1/status/storage", s.serveStorage)
}

// secretKeys are the configuration keys whose values are masked; any key
// holding one of these words is.
var secretKeys = []string{"password", "secret", "tokens", "token"}

// maskSecrets replaces the value of every mapping key naming a secret
// (not paths to files holding one: *_file) by "<secret>".
func maskSecrets(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if isSecretKey(k) && !(v.Kind == yaml.SequenceNode && len(v.Content) == 0) && !(v.Kind == yaml.ScalarNode && v.Value == "") {
				*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "<secret>"}
				continue
			}
			maskSecrets(v)
		}
		return
	}
	for _, c := range n.Content {
		maskSecrets(c)
	}
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_path") {
		return false
	}
	for _, w := range secretKeys {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// serveConfig answers Prometheus' /api/v1/status/config: the effective
// configuration as YAML, secrets masked.
func (s *server) serveConfig(w http.ResponseWriter, r *http.Request) {
	var doc yaml.Node
	if err := doc.Encode(s.cfg); err != nil {
		writePromError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	maskSecrets(&doc)
	b, err := yaml.Marshal(&doc)
	if err != nil {
		writePromError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writePromData(w, map[string]string{"yaml": string(b)})
}

// serveStorage lists the partitions on disk of the raw data and of each
// rollup tier (engine.Inspect: manifests and segment indexes, nothing
// decoded). A compaction may remove a segment while it is read: the
// listing is retried once.
func (s *server) serveStorage(w http.ResponseWriter, r *http.Request) {
	inspect := func(dir string) (*engine.InspectReport, error) {
		rep, err := engine.Inspect(dir)
		if err != nil {
			rep, err = engine.Inspect(dir)
		}
		return rep, err
	}
	out := struct {
		Raw   *engine.InspectReport            `json:"raw"`
		Tiers map[string]*engine.InspectReport `json:"rollup_tiers,omitempty"`
	}{}
	var err error
	if out.Raw, err = inspect(s.cfg.DataDir); err != nil {
		writePromError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	tiers, _ := os.ReadDir(filepath.Join(s.cfg.DataDir, "rollup"))
	for _, t := range tiers {
		if !t.IsDir() {
			continue
		}
		rep, err := inspect(filepath.Join(s.cfg.DataDir, "rollup", t.Name()))
		if err != nil {
			continue // a tier being created
		}
		if out.Tiers == nil {
			out.Tiers = map[string]*engine.InspectReport{}
		}
		out.Tiers[t.Name()] = rep
	}
	writePromData(w, out)
}

func writePromData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writePromError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": typ, "error": msg})
}

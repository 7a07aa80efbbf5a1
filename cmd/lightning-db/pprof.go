package main

import "net/http/pprof"

// registerPprof serves the runtime profiles under /debug/pprof/ when
// cfg.Pprof is set. It registers on the server's own mux (never on
// http.DefaultServeMux), so nothing is exposed unless asked for.
func (s *server) registerPprof() {
	if !s.cfg.Pprof {
		return
	}
	s.rm.HandleFunc("/debug/pprof/", pprof.Index)
	s.rm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.rm.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.rm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.rm.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.log.Warn("pprof enabled", "path", "/debug/pprof/")
}

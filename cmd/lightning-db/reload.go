package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// watchReload reloads the token file and the TLS certificate on SIGHUP
// until ctx ends. A failed reload keeps what was loaded before and logs
// why.
func (s *server) watchReload(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.reload()
			}
		}
	}()
}

// reload applies SIGHUP.
func (s *server) reload() {
	if err := s.auth.reload(); err != nil {
		s.log.Error("SIGHUP: tokens not reloaded", "err", err)
	} else {
		s.log.Info("SIGHUP: tokens reloaded", "tokens", s.auth.store.Load().Len())
	}
	if m := s.mqttAuth.Load(); m != nil {
		if err := m.reloadACL(); err != nil {
			s.log.Error("SIGHUP: MQTT ACL not reloaded", "err", err)
		}
	}
	if s.tls == nil {
		return
	}
	if err := s.tls.reload(); err != nil {
		s.log.Error("SIGHUP: TLS certificate not reloaded", "err", err)
		return
	}
	s.log.Info("SIGHUP: TLS certificate reloaded", "cert_file", s.cfg.HTTP.TLS.CertFile)
}

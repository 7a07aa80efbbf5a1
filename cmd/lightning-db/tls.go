package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

// TLSConfig makes the HTTP server speak HTTPS (config section http.tls:).
// The certificate, key and client CA are read again on SIGHUP; open
// connections keep the ones they started with.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM certificate (chain) and key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, asks clients for a certificate signed by one
	// of its CAs (mTLS); see ClientAuth.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is what a client certificate is for when ClientCAFile is
	// set: "require" (the default: no connection without a valid one) or
	// "optional" (verified when sent).
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// enabled reports whether HTTPS is configured.
func (c TLSConfig) enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c TLSConfig) validate() error {
	if !c.enabled() {
		if c.ClientCAFile != "" {
			return errors.New("http.tls.client_ca_file needs cert_file and key_file")
		}
		return nil
	}
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("http.tls: cert_file and key_file go together"))
	}
	if c.ClientAuth != "" && c.ClientAuth != "require" && c.ClientAuth != "optional" {
		errs = append(errs, fmt.Errorf("http.tls.client_auth %q: want require or optional", c.ClientAuth))
	}
	if c.MinVersion != "" && c.MinVersion != "1.2" && c.MinVersion != "1.3" {
		errs = append(errs, fmt.Errorf("http.tls.min_version %q: want 1.2 or 1.3", c.MinVersion))
	}
	return errors.Join(errs...)
}

// certReloader serves the current certificate and client CAs to each new
// connection (tls.Config.GetConfigForClient, GetCertificate); reload
// swaps them in.
type certReloader struct {
	cfg  TLSConfig
	cert atomic.Pointer[tls.Certificate]
	conf atomic.Pointer[tls.Config] // with the current client CAs
}

// newCertReloader loads the files once; nil when TLS is off.
func newCertReloader(c TLSConfig) (*certReloader, error) {
	if !c.enabled() {
		return nil, nil
	}
	r := &certReloader{cfg: c}
	return r, r.reload()
}

// reload reads the certificate, key and client CAs again; on error the
// old ones stay in use.
func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	conf := r.base()
	if r.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(r.cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls client CA %s: no PEM certificate in it", r.cfg.ClientCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		if r.cfg.ClientAuth == "optional" {
			conf.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	r.cert.Store(&cert)
	r.conf.Store(conf)
	return nil
}

// base is the configuration every connection starts from.
func (r *certReloader) base() *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cert.Load(), nil },
		NextProtos:     []string{"http/1.1"},
	}
	if r.cfg.MinVersion == "1.3" {
		c.MinVersion = tls.VersionTLS13
	}
	return c
}

// serverConfig is the http.Server's TLSConfig.
func (r *certReloader) serverConfig() *tls.Config {
	c := r.base()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.conf.Load(), nil }
	return c
}

// serve runs srv on ln, over TLS when configured.
func (s *server) serve(srv *http.Server, ln net.Listener) error {
	if s.tls == nil {
		return srv.Serve(trackingListener{ln})
	}
	srv.TLSConfig = s.tls.serverConfig()
	// HTTP/1.1 only, as over plain HTTP: the body and write deadlines
	// (httpLimits) and the connection metrics are per connection.
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	return srv.ServeTLS(trackingListener{ln}, "", "")
}

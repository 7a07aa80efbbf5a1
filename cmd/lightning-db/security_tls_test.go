package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority made for one test; no key is
// committed.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lightning test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	return ca
}

// issue signs a leaf certificate for 127.0.0.1 (server) or a client and
// writes it and its key as PEM files under dir; it returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, serial int64, client bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	// Written through a rename each, as a certificate renewal tool does.
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return certFile, keyFile
}

func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", data, 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// httpsClient trusts ca and presents the client certificate when given.
func httpsClient(ca *testCA, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: ca.pool}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}

// startHTTPS starts the server with the YAML tls section given and waits
// until it answers /ready over HTTPS with c.
func startHTTPS(t *testing.T, c *http.Client, tlsYAML string, args ...string) *proc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("http:\n  tls:\n"+tlsYAML), 0o600))
	return startServerReady(t, t.TempDir(), func(p *proc) bool {
		resp, err := c.Get("https://" + p.addr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, append([]string{"--config", cfg}, args...)...)
}

// servedSerial returns the serial of the certificate a new connection
// gets, and whether the request reused an open connection.
func servedSerial(t *testing.T, c *http.Client, u string) (serial int64, reused bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), reused
}

// TestHTTPSWithCertReload: the server speaks HTTPS (TLS 1.2 at least) to
// the Go client and curl; on SIGHUP new connections get the renewed
// certificate while an open keep-alive connection goes on serving.
func TestHTTPSWithCertReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 100, false)
	keep := httpsClient(ca, nil)
	p := startHTTPS(t, keep, fmt.Sprintf("    cert_file: %s\n    key_file: %s\n", certFile, keyFile))
	defer p.stop()
	u := "https://" + p.addr + "/ready"
	serial, _ := servedSerial(t, keep, u)
	require.Equal(t, int64(100), serial)

	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(u); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if resp, err := http.Get("http://" + p.addr + "/ready"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest { // net/http's "HTTP request to an HTTPS server"
			t.Errorf("plain HTTP on the HTTPS port: %d", resp.StatusCode)
		}
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		caFile := filepath.Join(dir, "ca.pem")
		require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
		out, err := exec.Command(curl, "-sS", "--cacert", caFile, u).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, "ready\n", string(out))
	} else {
		t.Log("curl not installed: its check skipped")
	}

	ca.issue(t, dir, "server", 200, false) // renewed in place
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	poll(t, 10*time.Second, 20*time.Millisecond, func() string {
		if s, _ := servedSerial(t, httpsClient(ca, nil), u); s != 200 {
			return fmt.Sprintf("a new connection still gets certificate %d", s)
		}
		return ""
	})
	serial, reused := servedSerial(t, keep, u)
	if !reused || serial != 100 {
		t.Errorf("the keep-alive connection: reused %v, certificate %d; want it kept with 100", reused, serial)
	}

	// A broken renewal: logged, the loaded certificate stays.
	writeAtomic(t, certFile, []byte("not a certificate"))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	p.logLine("SIGHUP: TLS certificate not reloaded")
	if s, _ := servedSerial(t, httpsClient(ca, nil), u); s != 200 {
		t.Errorf("after a broken renewal a new connection gets certificate %d, want 200", s)
	}
}

// TestMutualTLS: with client_ca_file, a client without a certificate
// signed by it is refused at the handshake; with one it is served.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 1, false)
	ccert, ckey := ca.issue(t, dir, "client", 2, true)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
	pair, err := tls.LoadX509KeyPair(ccert, ckey)
	require.NoError(t, err)
	withCert := httpsClient(ca, &pair)
	p := startHTTPS(t, withCert, fmt.Sprintf("    cert_file: %s\n    key_file: %s\n    client_ca_file: %s\n", certFile, keyFile, caFile))
	defer p.stop()
	u := "https://" + p.addr + "/ready"
	if resp, err := httpsClient(ca, nil).Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate was served: %d", resp.StatusCode)
	}
	other := newTestCA(t)
	oc, ok := other.issue(t, dir, "stranger", 3, true)
	strange, err := tls.LoadX509KeyPair(oc, ok)
	require.NoError(t, err)
	if resp, err := httpsClient(ca, &strange).Get(u); err == nil {
		resp.Body.Close()
		t.Fatalf("a client with a certificate of another CA was served: %d", resp.StatusCode)
	}
	serial, _ := servedSerial(t, withCert, u)
	require.Equal(t, int64(1), serial)
}

// TestTLSConfigErrors: half a TLS configuration is refused at start.
func TestTLSConfigErrors(t *testing.T) {
	for _, c := range []TLSConfig{{CertFile: "a"}, {ClientCAFile: "c"}, {CertFile: "a", KeyFile: "b", MinVersion: "1.1"}, {CertFile: "a", KeyFile: "b", ClientAuth: "maybe"}} {
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "http.tls") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestPrometheusRemoteWriteOverTLS: the real Prometheus (2.42) scrapes the
// server's /metrics over HTTPS with a read token and remote-writes the
// samples to it over HTTPS with a write token, trusting the test's CA;
// they arrive (up{job="ldb"} is readable back).
func TestPrometheusRemoteWriteOverTLS(t *testing.T) {
	bin := needBinaries(t, "prometheus")[0]
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 1, false)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
	tokens, sec, _ := writeTokens(t, dir,
		tokenSpec{name: "read", scopes: []string{"read"}},
		tokenSpec{name: "write", scopes: []string{"write"}})
	c := httpsClient(ca, nil)
	p := startHTTPS(t, c, fmt.Sprintf("    cert_file: %s\n    key_file: %s\n", certFile, keyFile), "--token-file", tokens)
	defer p.stop()
	startPrometheus(t, bin, fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: ldb
    scheme: https
    authorization: {credentials: %q}
    tls_config: {ca_file: %q}
    static_configs: [{targets: [%q]}]
remote_write:
  - url: https://%s/api/v1/write
    authorization: {credentials: %q}
    tls_config: {ca_file: %q}
    queue_config: {batch_send_deadline: 1s}
`, sec["read"], caFile, p.addr, p.addr, sec["write"], caFile))
	u := "https://" + p.addr + "/api/v1/query?query=" + "up%7Bjob%3D%22ldb%22%7D"
	reader := &http.Client{Transport: bearer{sec["read"], c.Transport}}
	eventually(t, 60*time.Second, func() string {
		resp, err := reader.Get(u)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"value":[`) || !strings.Contains(string(b), `,"1"]`) {
			return fmt.Sprintf("up{job=\"ldb\"} not remote-written yet: %d %s", resp.StatusCode, b)
		}
		return ""
	})
}

// TestInfluxCLIOverTLS: the InfluxDB 1.x CLI (a Go client like Telegraf's
// outputs.influxdb, trusting the test's CA through SSL_CERT_FILE) writes
// and reads over HTTPS with a token as its password; with a read-only
// token its INSERT is refused.
func TestInfluxCLIOverTLS(t *testing.T) {
	bin := needBinaries(t, "influx")[0]
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 1, false)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
	tokens, sec, _ := writeTokens(t, dir,
		tokenSpec{name: "rw", scopes: []string{"read", "write"}},
		tokenSpec{name: "read", scopes: []string{"read"}})
	p := startHTTPS(t, httpsClient(ca, nil), fmt.Sprintf("    cert_file: %s\n    key_file: %s\n", certFile, keyFile), "--token-file", tokens)
	defer p.stop()
	_, port, _ := net.SplitHostPort(p.addr)
	cli := func(token, stmt string) (string, error) {
		c := exec.Command(bin, "-ssl", "-host", "127.0.0.1", "-port", port, "-username", "telegraf", "-password", token,
			"-database", "tls", "-execute", stmt)
		c.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := cli(sec["rw"], "INSERT weather,city=paris temp=21.5")
	require.NoError(t, err, out)
	eventually(t, 10*time.Second, func() string {
		out, err := cli(sec["read"], "SELECT temp FROM weather")
		if err != nil || !strings.Contains(out, "21.5") {
			return fmt.Sprintf("SELECT over TLS: %v %s", err, out)
		}
		return ""
	})
	out, err = cli(sec["read"], "INSERT weather,city=oslo temp=3")
	if err == nil && !strings.Contains(out, "forbidden") {
		t.Errorf("INSERT with a read token: %v %s", err, out)
	}
	out, _ = cli("wrong", "SHOW DATABASES")
	require.Contains(t, out, "authorization failed")
}

package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lightningdb-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestBrokerTLS: with a certificate the broker speaks MQTT over TLS only:
// paho publishes QoS 1 over ssl:// (stored before the PUBACK, forwarded to
// a subscriber over TLS too), and a plain MQTT CONNECT gets no CONNACK.
func TestBrokerTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	tlsOpt := func(o *paho.ClientOptions) {
		o.Servers = nil
		o.AddBroker("ssl://" + b.Addr())
		o.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	sub := connect(t, b.Addr(), "tls-sub", tlsOpt)
	got := make(chan string, 1)
	tok := sub.Subscribe("secure/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	pub := connect(t, b.Addr(), "tls-pub", tlsOpt)
	line := "secure,dev=d1 v=7 1700000000000000000"
	tok = pub.Publish("secure/d1", 1, false, line)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	require.Equal(t, []string{`secure_v{db="iot", dev="d1"}=float:7`}, app.dump(true))
	select {
	case p := <-got:
		require.Equal(t, line, p)
	case <-time.After(5 * time.Second):
		t.Fatal("the TLS subscriber got nothing")
	}

	w := dialWire(t, b.Addr())
	w.write(wireConnect(wireConnectOpts{id: "plain"}))
	m, err := w.read(3 * time.Second)
	require.Error(t, err, "a plain CONNECT on the TLS listener was answered: %v", m)
}

package wsman

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Listener serves a WS-Management handler on a TCP port, over HTTP or HTTPS.
type Listener struct {
	// URL is the endpoint clients use, e.g. https://127.0.0.1:40123/wsman.
	URL string
	// CertPEM is the PEM of the self-signed certificate served over HTTPS (nil over HTTP).
	// Clients trust it as their CA (the masterzen client's Endpoint.CACert, exchops'
	// winrm.ca_file).
	CertPEM []byte

	addr    *net.TCPAddr
	srv     *http.Server
	handler http.Handler
	served  chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Listen serves h at addr (host:port; port 0 picks a free one). With tlsOn it serves HTTPS
// with a new ECDSA P-256 certificate for localhost, 127.0.0.1 and the extra names (host
// names or IP addresses), valid from now for a year. It returns the listener and its URL.
func Listen(addr string, tlsOn bool, h http.Handler, names ...string) (*Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("wsman: cannot listen on %s: %w (choose a free port, or :0 for any)", addr, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	l := &Listener{addr: tcp, handler: h, served: make(chan struct{})}
	l.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		// WinRM is HTTP/1.1 (NTLM needs the connection); an empty map disables HTTP/2.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		// Injected faults and clients that hang up are part of the lab; don't print them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if cc, ok := h.(interface{ connClosed(remote string) }); ok {
		// NTLM message encryption keeps a security context per connection.
		l.srv.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				cc.connClosed(c.RemoteAddr().String())
			}
		}
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tlsOn {
		certPEM, cert, err := selfSigned(names, time.Now())
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		l.CertPEM = certPEM
		l.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, l.srv.TLSConfig)
		scheme = "https"
	}
	l.URL = scheme + "://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + "/wsman"
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(ln)
	}()
	return l, l.URL, nil
}

// Port is the TCP port the listener serves on.
func (l *Listener) Port() int { return l.addr.Port }

// Close stops the listener. When the handler has a Close method (a *Server does), it is
// called first, so running commands are cancelled and long polls answered; then open
// connections get a few seconds to finish before they are cut.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Listener) close() error {
	var errs []error
	if c, ok := l.handler.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		errs = append(errs, l.srv.Close())
	}
	<-l.served
	return errors.Join(errs...)
}

// selfSigned makes a certificate that is its own CA, so a client can trust exactly it.
func selfSigned(names []string, now time.Time) ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("wsman: generating a TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("wsman: generating a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"exchops lab"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("wsman: making the certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return certPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

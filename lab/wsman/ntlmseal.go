package wsman

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4" //nolint:gosec // NTLM sealing is RC4 by definition (MS-NLMP 3.4.3)
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// WinRM message encryption over plain HTTP (MS-WSMV 2.2.9.1, MS-NLMP 3.4): after an NTLM
// handshake that negotiated sealing, each request body is multipart/encrypted with the
// protocol application/HTTP-SPNEGO-session-encrypted: a part naming the original content
// type and length, then an application/octet-stream part holding a 4-byte little-endian
// signature length, the 16-byte NTLM signature and the sealed SOAP. The client seals with
// its client-to-server keys and sequence numbers; the server answers in kind with its
// server-to-client ones. The security context belongs to the TCP connection.

const (
	protocolSPNEGOEncrypted = "application/HTTP-SPNEGO-session-encrypted"
	encryptedBoundary       = "Encrypted Boundary"
	ntlmSignatureSize       = 16
)

var (
	magicClientSign = []byte("session key to client-to-server signing key magic constant\x00")
	magicServerSign = []byte("session key to server-to-client signing key magic constant\x00")
	magicClientSeal = []byte("session key to client-to-server sealing key magic constant\x00")
	magicServerSeal = []byte("session key to server-to-client sealing key magic constant\x00")
)

// ntlmSeal is the server side of one connection's NTLM session security.
type ntlmSeal struct {
	account account
	keyExch bool

	mu              sync.Mutex
	inSign, outSign []byte
	in, out         *rc4.Cipher
	inSeq, outSeq   uint32
}

// newNTLMSeal derives the server's keys from the exported session key (MS-NLMP 3.4.5):
// with extended session security and 128-bit keys, every key is MD5(key + constant).
func newNTLMSeal(a account, key []byte, flags uint32) (*ntlmSeal, error) {
	if flags&ntlmFlagSeal == 0 || flags&ntlmFlagExtendedSecurity == 0 {
		return nil, errors.New("the client did not negotiate sealing with extended session security")
	}
	sealKey := func(magic []byte) []byte {
		k := key
		switch {
		case flags&ntlmFlag128 != 0:
		case flags&ntlmFlag56 != 0:
			k = key[:7]
		default:
			k = key[:5]
		}
		h := md5.Sum(append(append([]byte{}, k...), magic...))
		return h[:]
	}
	signKey := func(magic []byte) []byte {
		h := md5.Sum(append(append([]byte{}, key...), magic...))
		return h[:]
	}
	in, err := rc4.NewCipher(sealKey(magicClientSeal))
	if err != nil {
		return nil, err
	}
	out, err := rc4.NewCipher(sealKey(magicServerSeal))
	if err != nil {
		return nil, err
	}
	return &ntlmSeal{account: a, keyExch: flags&ntlmFlagKeyExch != 0,
		inSign: signKey(magicClientSign), outSign: signKey(magicServerSign), in: in, out: out}, nil
}

// signature is the NTLMSSP_MESSAGE_SIGNATURE with extended session security: version 1,
// the first 8 bytes of HMAC-MD5(signing key, seq + message), sealed with the direction's
// RC4 handle when key exchange was negotiated, and the sequence number.
func (s *ntlmSeal) signature(signKey []byte, handle *rc4.Cipher, seq uint32, msg []byte) []byte {
	var sn [4]byte
	binary.LittleEndian.PutUint32(sn[:], seq)
	mac := hmac.New(md5.New, signKey)
	mac.Write(sn[:])
	mac.Write(msg)
	checksum := mac.Sum(nil)[:8]
	if s.keyExch {
		handle.XORKeyStream(checksum, checksum)
	}
	sig := make([]byte, 0, ntlmSignatureSize)
	sig = binary.LittleEndian.AppendUint32(sig, 1)
	sig = append(sig, checksum...)
	return append(sig, sn[:]...)
}

// unseal decrypts and verifies a client's sealed message.
func (s *ntlmSeal) unseal(sealed, sig []byte) ([]byte, error) {
	if len(sig) != ntlmSignatureSize {
		return nil, fmt.Errorf("the NTLM signature is %d bytes, not %d", len(sig), ntlmSignatureSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := make([]byte, len(sealed))
	s.in.XORKeyStream(msg, sealed)
	want := s.signature(s.inSign, s.in, s.inSeq, msg)
	if !hmac.Equal(want, sig) {
		return nil, errors.New("the NTLM signature does not verify (wrong key or sequence number)")
	}
	s.inSeq++
	return msg, nil
}

// seal encrypts and signs a reply.
func (s *ntlmSeal) seal(msg []byte) (sealed, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sealed = make([]byte, len(msg))
	s.out.XORKeyStream(sealed, msg)
	sig = s.signature(s.outSign, s.out, s.outSeq, msg)
	s.outSeq++
	return sealed, sig
}

// isEncrypted reports whether a Content-Type is WinRM's NTLM/SPNEGO message encryption.
func isEncrypted(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	return err == nil && strings.EqualFold(mt, "multipart/encrypted") &&
		strings.EqualFold(params["protocol"], protocolSPNEGOEncrypted)
}

// encryptedPart is the content of a multipart/encrypted body.
type encryptedPart struct {
	length    int // of the original content
	signature []byte
	sealed    []byte
}

// parseEncrypted reads a multipart/encrypted body as WinRM clients write it: the MIME
// headers of its parts are indented with a tab (so not standard MIME), and the
// octet-stream part is binary, so its end is found from the original length.
func parseEncrypted(body []byte, contentType string) (encryptedPart, error) {
	var p encryptedPart
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return p, fmt.Errorf("bad Content-Type %q: %w", contentType, err)
	}
	boundary := params["boundary"]
	if boundary == "" {
		boundary = encryptedBoundary
	}
	delim := []byte("--" + boundary + "\r\n")
	rest, ok := bytes.CutPrefix(body, delim)
	if !ok {
		return p, errors.New("the body does not start with its MIME boundary")
	}
	head, rest, ok := bytes.Cut(rest, delim)
	if !ok {
		return p, errors.New("the body has no second MIME part")
	}
	if !bytes.Contains(bytes.ToLower(head), []byte(strings.ToLower(protocolSPNEGOEncrypted))) {
		return p, errors.New("the first part does not name " + protocolSPNEGOEncrypted)
	}
	_, lengthText, ok := bytes.Cut(head, []byte("Length="))
	if !ok {
		return p, errors.New("the first part has no OriginalContent Length")
	}
	if i := bytes.IndexAny(lengthText, ";\r\n"); i >= 0 {
		lengthText = lengthText[:i]
	}
	p.length, err = strconv.Atoi(string(bytes.TrimSpace(lengthText)))
	if err != nil || p.length < 0 {
		return p, fmt.Errorf("bad OriginalContent Length %q", lengthText)
	}
	// The octet-stream part's header line ends at its first CRLF.
	_, data, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok || len(data) < 4 {
		return p, errors.New("the second part has no data")
	}
	sigLen := int(binary.LittleEndian.Uint32(data))
	data = data[4:]
	if sigLen != ntlmSignatureSize || len(data) < sigLen+p.length {
		return p, fmt.Errorf("the second part is too short for a %d-byte signature and %d bytes of content", sigLen, p.length)
	}
	p.signature, p.sealed = data[:sigLen], data[sigLen:sigLen+p.length]
	if !bytes.HasPrefix(data[sigLen+p.length:], []byte("--"+boundary+"--")) {
		return p, errors.New("the body does not end with its closing MIME boundary")
	}
	return p, nil
}

// buildEncrypted is a sealed reply body and its Content-Type, the way Windows writes them.
func buildEncrypted(s *ntlmSeal, msg []byte) ([]byte, string) {
	sealed, sig := s.seal(msg)
	var b bytes.Buffer
	b.WriteString("--" + encryptedBoundary + "\r\n")
	b.WriteString("\tContent-Type: " + protocolSPNEGOEncrypted + "\r\n")
	fmt.Fprintf(&b, "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n", len(msg))
	b.WriteString("--" + encryptedBoundary + "\r\n")
	b.WriteString("\tContent-Type: application/octet-stream\r\n")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(sig)))
	b.Write(sig)
	b.Write(sealed)
	b.WriteString("--" + encryptedBoundary + "--\r\n")
	return b.Bytes(), `multipart/encrypted;protocol="` + protocolSPNEGOEncrypted + `";boundary="` + encryptedBoundary + `"`
}

// sealSessions are the security contexts of the connections that authenticated with
// sealing, by the connection's remote address.
type sealSessions struct {
	mu sync.Mutex
	m  map[string]*ntlmSeal
}

// maxSealSessions bounds the contexts kept for connections the server was not told closed.
const maxSealSessions = 4096

func (ss *sealSessions) put(conn string, s *ntlmSeal) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = make(map[string]*ntlmSeal)
	}
	if len(ss.m) >= maxSealSessions {
		for k := range ss.m {
			delete(ss.m, k)
			break
		}
	}
	ss.m[conn] = s
}

func (ss *sealSessions) get(conn string) *ntlmSeal {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.m[conn]
}

func (ss *sealSessions) drop(conn string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, conn)
}

// sealingWriter seals the reply written to w with the connection's context; with no
// context it is w. The server writes each reply with one Write after its headers.
func sealingWriter(w http.ResponseWriter, s *ntlmSeal) http.ResponseWriter {
	if s == nil {
		return w
	}
	return &sealedWriter{ResponseWriter: w, seal: s, status: http.StatusOK}
}

type sealedWriter struct {
	http.ResponseWriter
	seal   *ntlmSeal
	status int
	wrote  bool
}

func (w *sealedWriter) WriteHeader(status int) { w.status = status }

func (w *sealedWriter) Write(data []byte) (int, error) {
	if w.wrote {
		return 0, errors.New("wsman: a sealed reply is written in one piece")
	}
	w.wrote = true
	if r, ok := w.ResponseWriter.(interface{ recordPlain([]byte) }); ok {
		r.recordPlain(data) // tests see what was sealed
	}
	body, ct := buildEncrypted(w.seal, data)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.ResponseWriter.WriteHeader(w.status)
	if _, err := w.ResponseWriter.Write(body); err != nil {
		return 0, err
	}
	return len(data), nil
}

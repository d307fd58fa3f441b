// Package pywinrm helps tests drive Debian's python3-winrm, the independent WinRM
// client the lab is checked against.
package pywinrm

import (
	"os"
	"path/filepath"
	"testing"
)

// LegacyOpenSSLConfig writes an OpenSSL configuration enabling the default and legacy
// providers and returns its path, for OPENSSL_CONF of a python child process: NTLM
// needs MD4, which OpenSSL 3 keeps in the legacy provider.
func LegacyOpenSSLConfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "openssl.cnf")
	conf := "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n" +
		"[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n" +
		"[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

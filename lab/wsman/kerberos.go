package wsman

// KerberosAcceptor validates the Kerberos (SPNEGO) token a client sends in
// "Authorization: Negotiate <base64>" (or "Kerberos <base64>"), as IIS and WinRM do
// with the service's keytab. The lab's implementation (package lab/kerberos) accepts
// tickets from a real MIT KDC.
type KerberosAcceptor interface {
	// Accept returns the authenticated account ("svc-exchops@MSGLAB.LOCAL") and the
	// token to send back in "WWW-Authenticate: Negotiate <base64>" (nil when none), or
	// an error for a token that does not validate: the request then gets 401.
	Accept(token []byte) (user string, response []byte, err error)
}

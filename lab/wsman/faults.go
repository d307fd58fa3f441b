package wsman

import "fmt"

// Fault is a failure the lab injects at run time, to show how clients cope with a broken
// listener. It is set with Server.SetFault and applies to every request until changed.
type Fault int

const (
	// FaultNone serves requests normally.
	FaultNone Fault = iota
	// FaultUnreachable accepts the TCP connection and closes it at once, as a host whose
	// listener died or a firewall that resets connections.
	FaultUnreachable
	// FaultHTTP500 answers every request with HTTP 500 and a plain-text body (not SOAP), as a
	// broken proxy or an IIS error page would.
	FaultHTTP500
	// FaultUnauthorized answers 401 even to good credentials, as after a password change or
	// an account lockout.
	FaultUnauthorized
	// FaultMalformed answers 200 with a SOAP content type and XML that does not parse.
	FaultMalformed
	// FaultDropShells is a one-shot action, not a lasting state: SetFault drops every
	// PowerShell endpoint shell on the server side (Server.DropShells), as an IIS
	// application pool recycle does, and leaves the current fault as it was. The next
	// request about a dropped shell gets WinRM's "shell not found" fault.
	FaultDropShells
	// FaultMalformedCLIXML is one-shot too: the next PIPELINE_OUTPUT any pipeline sends
	// carries CLIXML that does not parse (Server.CorruptNextOutput).
	FaultMalformedCLIXML
)

var faultNames = map[Fault]string{
	FaultNone:            "none",
	FaultUnreachable:     "unreachable",
	FaultHTTP500:         "http500",
	FaultUnauthorized:    "unauthorized",
	FaultMalformed:       "malformed",
	FaultDropShells:      "dropshells",
	FaultMalformedCLIXML: "clixml",
}

// String returns the fault's short name, as ParseFault accepts it.
func (f Fault) String() string {
	if n, ok := faultNames[f]; ok {
		return n
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// ParseFault turns a short name (none, unreachable, http500, unauthorized, malformed,
// dropshells, clixml) into a Fault, for flags and lab commands.
func ParseFault(name string) (Fault, error) {
	for f, n := range faultNames {
		if n == name {
			return f, nil
		}
	}
	return FaultNone, fmt.Errorf("wsman: unknown fault %q: use one of none, unreachable, http500, unauthorized, malformed (lasting, on /wsman and /PowerShell/), dropshells (drop every PowerShell endpoint shell once), clixml (the next PIPELINE_OUTPUT carries malformed CLIXML)", name)
}

// soapFault is a WS-Management fault as Windows Remote Management sends it: a SOAP 1.2 fault
// with a code, a subcode, a reason, and a WSManFault detail carrying the Windows error code
// that clients (pywinrm, the masterzen client) look at.
type soapFault struct {
	status  int    // HTTP status code
	action  string // a:Action of the fault message
	code    string // s:Code/s:Value, "s:Sender" or "s:Receiver"
	subcode string // s:Subcode/s:Value, with a prefix declared on the envelope
	wsCode  uint32 // f:WSManFault/@Code, a WinRM HRESULT as a decimal number
	message string // s:Reason/s:Text and f:Message
}

// WinRM's error codes (wsmerror.h). They are FACILITY_WINRM HRESULTs, sent in decimal.
const (
	codeActionNotSupported = 0x80338013 // ERROR_WSMAN_ACTION_NOT_SUPPORTED
	codeResponseTooLarge   = 0x80338026 // ERROR_WSMAN_ENVELOPE_TOO_LARGE
	codeInvalidSOAPBody    = 0x80338027 // ERROR_WSMAN_INVALID_SOAP_BODY
	codeOperationTimedOut  = 0x80338029 // ERROR_WSMAN_OPERATION_TIMEDOUT
	codeInsufficientSelect = 0x8033805A // ERROR_WSMAN_INSUFFCIENT_SELECTORS
	codeShellNotFound      = 0x8033805B // what WinRS answers for an unknown ShellId
	codeRequestTooLarge    = 0x80338111 // ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS
	codeMaxShellsPerUser   = 0x803381A5 // the MaxShellsPerUser quota
	codeProviderFailure    = 0x80338003 // ERROR_WSMAN_PROVIDER_FAILURE
	codeInvalidResourceURI = 0x80338012 // the session configuration named by the resource URI does not exist
)

const (
	actionWSManFault      = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	actionAddressingFault = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
)

func faultTimedOut() *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Receiver", subcode: "w:TimedOut",
		wsCode:  codeOperationTimedOut,
		message: "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
	}
}

func faultShellNotFound(shellID string) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:InvalidSelectors",
		wsCode: codeShellNotFound,
		message: "The request for the Windows Remote Shell with ShellId " + shellID +
			" failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.",
	}
}

func faultCommandNotFound(shellID, commandID string) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:InvalidSelectors",
		wsCode: codeShellNotFound,
		message: "The request for the Windows Remote Shell with ShellId " + shellID +
			" failed because the command with CommandId " + commandID +
			" was not found in the shell. The command may have been terminated or the CommandId is incorrect. Start the command again in this shell or in a new one.",
	}
}

func faultMissingShellID() *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:InvalidSelectors",
		wsCode:  codeInsufficientSelect,
		message: "The WS-Management service cannot process the request because the request did not contain all required selectors. Add the ShellId selector to the SelectorSet header.",
	}
}

func faultMaxShells(limit int) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Receiver", subcode: "w:InternalError",
		wsCode:  codeMaxShellsPerUser,
		message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.", limit),
	}
}

func faultActionNotSupported(action string) *soapFault {
	return &soapFault{
		status: 500, action: actionAddressingFault, code: "s:Sender", subcode: "a:ActionNotSupported",
		wsCode:  codeActionNotSupported,
		message: "The WS-Management service does not support the action specified in the request: " + truncate(action, 200) + ".",
	}
}

func faultRequestTooLarge(limitKB int) *soapFault {
	return &soapFault{
		status: 413, action: actionWSManFault, code: "s:Sender", subcode: "w:EncodingLimit",
		wsCode:  codeRequestTooLarge,
		message: fmt.Sprintf("The WS-Management service cannot process the request because the request size exceeded the configured MaxEnvelopeSize quota of %d KB. Send smaller requests (split stdin into several Send requests).", limitKB),
	}
}

func faultEnvelopeTooSmall(size int) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:EncodingLimit",
		wsCode:  codeResponseTooLarge,
		message: fmt.Sprintf("The WS-Management service cannot process the response because it is larger than the maximum size allowed: the request's MaxEnvelopeSize of %d bytes is below the minimum of %d bytes.", size, minEnvelopeSize),
	}
}

func faultBadRequest(detail string) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:SchemaValidationError",
		wsCode:  codeInvalidSOAPBody,
		message: "The WS-Management service cannot process the request because the request packet does not have a valid SOAP body: " + truncate(detail, 300) + ".",
	}
}

func faultShuttingDown() *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Receiver", subcode: "w:InternalError",
		wsCode:  codeProviderFailure,
		message: "The WS-Management service is shutting down and cannot process the request. Retry against another server or after the service has restarted.",
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// faultUnencrypted answers an NTLM-authenticated request whose body is not sealed, over
// plain HTTP. Windows (AllowUnencrypted=false) answers such a request with HTTP 500 and
// logs that it refused unencrypted traffic; the fault's text is the lab's, saying how to
// fix it.
func faultUnencrypted() *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:AccessDenied", wsCode: 5,
		message: "The WinRM service refuses unencrypted traffic over HTTP (AllowUnencrypted=false): seal the messages with NTLM message encryption (exchops: auth ntlm-encrypted) or use HTTPS.",
	}
}

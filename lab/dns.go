package lab

// dnscmd.exe as Windows Server 2008 R2 ships it, on the lab's DNS server: the walkthrough's
// step 1 (the A record for the CAS array name). Parsing (parseDnscmd) is separate from
// running (runDnscmd) so the parser can be fuzzed on its own.
//
// dnscmd writes its results and its failures to stdout and exits with the Win32 or
// DNS status code of the failure (0 on success), which is what scripts test through
// $LASTEXITCODE.

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/exchops/exchops/lab/ps"
)

// dnsStatus is a DNS server RPC status, as dnscmd prints it.
type dnsStatus struct {
	Name string
	Code int
}

// The statuses the lab's DNS server returns (winerror.h values).
var (
	dnsZoneDoesNotExist   = dnsStatus{"DNS_ERROR_ZONE_DOES_NOT_EXIST", 9601}
	dnsRecordExists       = dnsStatus{"DNS_ERROR_RECORD_ALREADY_EXISTS", 9711}
	dnsNameDoesNotExist   = dnsStatus{"DNS_ERROR_NAME_DOES_NOT_EXIST", 9714}
	dnsRecordDoesNotExist = dnsStatus{"DNS_ERROR_RECORD_DOES_NOT_EXIST", 9701}
	dnsInvalidNameChar    = dnsStatus{"DNS_ERROR_INVALID_NAME_CHAR", 9560}
	dnsNotZone            = dnsStatus{"DNS_ERROR_RCODE_NOTZONE", 9010}
	dnsRPCUnavailable     = dnsStatus{"RPC_S_SERVER_UNAVAILABLE", 1722}
	dnsNotSupported       = dnsStatus{"ERROR_NOT_SUPPORTED", 50}
)

// errInvalidParameter is ERROR_INVALID_PARAMETER: dnscmd prints the command's usage
// and exits with it when it cannot read its arguments.
const errInvalidParameter = 87

// dnsDefaultTTL is the zone's default TTL (the SOA minimum of an AD-integrated zone),
// used when /RecordAdd is given none.
const dnsDefaultTTL = 3600

// dnsOp is a parsed dnscmd command line.
type dnsOp struct {
	Server string // as given; "" when omitted (the local server)
	Cmd    string // lower case, without the slash: recordadd, recorddelete, enumrecords, help
	Zone   string
	Node   string
	Type   string // upper case
	Data   string
	TTL    int  // recordadd; 0 = default
	Force  bool // recorddelete /f
	Filter string
}

// dnsUsageError is a command line dnscmd cannot read: its text and exit code.
type dnsUsageError struct {
	Text string
	Code int
}

func (e *dnsUsageError) Error() string { return e.Text }

const dnsUsage = "\r\nUsage: DnsCmd <ServerName> <Command> [<Command Parameters>]\r\n\r\n" +
	"<ServerName>:\r\n" +
	"  IP address or host name    -- remote or local DNS server\r\n" +
	"  .                          -- DNS server on local machine\r\n" +
	"<Command>:\r\n" +
	"  /EnumRecords               -- Enumerate records at a name\r\n" +
	"  /RecordAdd                 -- Create a record in zone or RootHints\r\n" +
	"  /RecordDelete              -- Delete a record from zone, RootHints or cache data\r\n" +
	"  /ZonePrint                 -- Display all records in the zone\r\n\r\n" +
	"<Command Parameters>:\r\n" +
	"  DnsCmd <CommandName> /? -- For help info on specific Command\r\n"

const recordAddUsage = "USAGE: DnsCmd <ServerName> /RecordAdd <Zone> <NodeName> [/Aging] [/OpenAcl] [/CreatePTR]\r\n" +
	"                 [<Ttl>] <RRType> <RRData>\r\n" +
	"  <RRType>          <RRData>\r\n" +
	"    A               <IPAddress>\r\n"

const recordDeleteUsage = "USAGE: DnsCmd <ServerName> /RecordDelete <Zone> <NodeName> <RRType> <RRData> [/f]\r\n" +
	"  <Zone>       -- FQDN of a zone, /RootHints or /Cache\r\n" +
	"  <NodeName>   -- name of node from which a record will be deleted\r\n" +
	"  <RRType>     -- record type of the record to be deleted\r\n" +
	"  <RRData>     -- data of the record to be deleted\r\n" +
	"  /f           -- Execute without asking for confirmation\r\n"

const enumRecordsUsage = "USAGE: DnsCmd <ServerName> /EnumRecords <Zone> <NodeName> [<DataOptions>] [<ViewOptions>]\r\n" +
	"  <Zone>        -- FQDN of zone node to enumerate\r\n" +
	"  <NodeName>    -- name of node whose records will be enumerated\r\n" +
	"                   - \"@\" for zone root OR\r\n" +
	"                   - FQDN of a node (name with a '.' at the end) OR\r\n" +
	"                   - node name relative to the ZoneName\r\n" +
	"  <DataOptions>: /Type <RRType> <RRData>\r\n" +
	"  <ViewOptions>: /Node | /Child\r\n"

const zonePrintUsage = "USAGE: DnsCmd <ServerName> /ZonePrint [<ZoneName>]\r\n"

// parseDnscmd reads a dnscmd command line (without the program name). Command names
// and switches are case-insensitive, as dnscmd's are.
func parseDnscmd(args []string) (dnsOp, error) {
	var op dnsOp
	if len(args) > 0 && !strings.HasPrefix(args[0], "/") && !strings.HasPrefix(args[0], "-") {
		op.Server, args = args[0], args[1:]
	}
	if len(args) == 0 {
		return op, &dnsUsageError{dnsUsage, 1}
	}
	cmd := strings.ToLower(strings.TrimLeft(args[0], "/-"))
	args = args[1:]
	if cmd == "?" || cmd == "help" {
		op.Cmd = "help"
		return op, nil
	}
	usage := map[string]string{"recordadd": recordAddUsage, "recorddelete": recordDeleteUsage, "enumrecords": enumRecordsUsage, "zoneprint": zonePrintUsage}
	text, known := usage[cmd]
	if !known {
		return op, &dnsUsageError{fmt.Sprintf("Unknown Command \"%s\" Specified -- type DnsCmd -? for help.\r\n", args0(cmd)), 1}
	}
	bad := &dnsUsageError{text, errInvalidParameter}
	for _, a := range args {
		if a == "/?" || a == "-?" {
			return op, &dnsUsageError{text, 0}
		}
	}
	op.Cmd = cmd
	switch cmd {
	case "recordadd":
		if len(args) < 4 {
			return op, bad
		}
		op.Zone, op.Node, args = args[0], args[1], args[2:]
		for len(args) > 0 && strings.HasPrefix(args[0], "/") {
			switch strings.ToLower(args[0]) {
			case "/aging", "/openacl", "/createptr":
				args = args[1:]
			default:
				return op, bad
			}
		}
		if len(args) > 0 {
			if ttl, err := strconv.Atoi(args[0]); err == nil {
				if ttl < 0 {
					return op, bad
				}
				op.TTL, args = ttl, args[1:]
			}
		}
		if len(args) != 2 {
			return op, bad
		}
		op.Type, op.Data = strings.ToUpper(args[0]), args[1]
	case "recorddelete":
		rest := args[:0:0]
		for _, a := range args {
			if strings.EqualFold(a, "/f") {
				op.Force = true
				continue
			}
			rest = append(rest, a)
		}
		if len(rest) < 3 || len(rest) > 4 {
			return op, bad
		}
		op.Zone, op.Node, op.Type = rest[0], rest[1], strings.ToUpper(rest[2])
		if len(rest) == 4 {
			op.Data = rest[3]
		}
	case "enumrecords":
		if len(args) < 2 {
			return op, bad
		}
		op.Zone, op.Node, args = args[0], args[1], args[2:]
		for len(args) > 0 {
			switch strings.ToLower(args[0]) {
			case "/type":
				if len(args) < 2 {
					return op, bad
				}
				op.Type, args = strings.ToUpper(args[1]), args[2:]
				if len(args) > 0 && !strings.HasPrefix(args[0], "/") {
					op.Data, args = args[0], args[1:]
				}
			case "/node", "/child":
				op.Filter, args = strings.ToLower(args[0][1:]), args[1:]
			case "/authority", "/glue", "/additional", "/detail", "/continue":
				args = args[1:]
			default:
				return op, bad
			}
		}
	case "zoneprint":
		if len(args) > 1 {
			return op, bad
		}
		if len(args) == 1 {
			op.Zone = args[0]
		}
	}
	return op, nil
}

func args0(cmd string) string { return "/" + cmd }

// dnsRelativeName turns a node name as dnscmd takes it into the zone-relative, lower
// case form the zone stores: "@" or the zone's name is the apex; a name ending in the
// zone (with or without the final dot) is made relative; a name with a final dot
// outside the zone is refused; anything else is relative already.
func dnsRelativeName(zone, name string) (string, *dnsStatus) {
	n := strings.ToLower(name)
	if n == "@" {
		return "@", nil
	}
	absolute := strings.HasSuffix(n, ".")
	n = strings.TrimSuffix(n, ".")
	switch {
	case n == zone:
		return "@", nil
	case strings.HasSuffix(n, "."+zone):
		n = strings.TrimSuffix(n, "."+zone)
	case absolute:
		return "", &dnsNotZone
	}
	if n == "" || len(n) > 255 {
		return "", &dnsInvalidNameChar
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "", &dnsInvalidNameChar
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '*') {
				return "", &dnsInvalidNameChar
			}
		}
	}
	return n, nil
}

func dnsFullName(zone, rel string) string {
	if rel == "@" {
		return zone
	}
	return rel + "." + zone
}

// dnscmd runs dnscmd.exe on a server: args are the arguments after the program name.
// It returns the exit code.
func (o *Org) dnscmd(on *Server, args []string, stdout, stderr io.Writer) int {
	text, code := o.runDnscmd(on, args)
	io.WriteString(stdout, text)
	return code
}

// runDnscmd returns what dnscmd prints and its exit code.
func (o *Org) runDnscmd(on *Server, args []string) (string, int) {
	op, err := parseDnscmd(args)
	if err != nil {
		u := err.(*dnsUsageError)
		return u.Text, u.Code
	}
	if op.Cmd == "help" {
		return dnsUsage, 0
	}
	var b strings.Builder
	failed := func(st dnsStatus) (string, int) {
		fmt.Fprintf(&b, "Command failed:  %s     %d    0x%08X\r\n", st.Name, st.Code, st.Code)
		return b.String(), st.Code
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.dnsServerIs(on, op.Server) {
		return failed(dnsRPCUnavailable)
	}
	zone := strings.TrimSuffix(strings.ToLower(op.Zone), ".")
	if op.Cmd == "zoneprint" && zone == "" {
		zone = Domain
	}
	records, ok := o.dns[zone]
	if !ok {
		return failed(dnsZoneDoesNotExist)
	}
	rel, st := dnsRelativeName(zone, op.Node)
	if op.Cmd == "zoneprint" {
		rel, st = "@", nil
	}
	if st != nil {
		return failed(*st)
	}
	if op.Type != "" && op.Type != "A" {
		// The lab's zone holds A records only; say so rather than pretend.
		return failed(dnsNotSupported)
	}
	switch op.Cmd {
	case "recordadd":
		fmt.Fprintf(&b, "Add A Record for %s at %s\r\n", dnsFullName(zone, rel), zone)
		ip, ok := dnsParseA(op.Data)
		if !ok {
			return recordAddUsage, errInvalidParameter
		}
		for _, r := range records {
			if r.Name == rel && r.Type == "A" && r.Data == ip {
				return failed(dnsRecordExists)
			}
		}
		ttl := op.TTL
		if ttl == 0 {
			ttl = dnsDefaultTTL
		}
		o.dns[zone] = append(records, DNSRecord{Name: rel, Type: "A", Data: ip, TTL: ttl})
	case "recorddelete":
		data := ""
		if op.Data != "" {
			ip, ok := dnsParseA(op.Data)
			if !ok {
				return recordDeleteUsage, errInvalidParameter
			}
			data = ip
		}
		if !op.Force {
			// dnscmd asks on the console; over WinRM no answer comes, so nothing is deleted.
			b.WriteString("Are you sure you want to delete record? (y/n) ")
			return b.String(), 0
		}
		kept := make([]DNSRecord, 0, len(records))
		for _, r := range records {
			if r.Name == rel && r.Type == "A" && (data == "" || r.Data == data) {
				continue
			}
			kept = append(kept, r)
		}
		if len(kept) == len(records) {
			return failed(dnsRecordDoesNotExist)
		}
		o.dns[zone] = kept
		fmt.Fprintf(&b, "Deleted A record(s) at %s\r\n", zone)
	case "enumrecords", "zoneprint":
		lines, found := dnsEnumerate(records, rel, op)
		if !found {
			return failed(dnsNameDoesNotExist)
		}
		if op.Cmd == "zoneprint" {
			fmt.Fprintf(&b, ";\r\n;  Zone:   %s\r\n;  Server: %s\r\n;\r\n", zone, o.dnsServerFQDN())
		} else {
			b.WriteString("Returned records:\r\n")
		}
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
		if op.Cmd == "zoneprint" {
			b.WriteString(";\r\n;  Finished zone: " + strconv.Itoa(len(lines)) + " records\r\n;\r\n")
		}
		b.WriteString("\r\n")
	}
	b.WriteString("Command completed successfully.\r\n")
	return b.String(), 0
}

func dnsParseA(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return "", false
	}
	return a.String(), true
}

// dnsEnumerate lists the records at node rel and its children, in dnscmd's layout:
// the node itself as "@", children by their names relative to it, the first record of
// each name on its line and further ones indented. found is false when neither the
// node nor any child exists.
func dnsEnumerate(records []DNSRecord, rel string, op dnsOp) (lines []string, found bool) {
	byName := map[string][]DNSRecord{}
	var names []string
	for _, r := range records {
		var shown string
		switch {
		case r.Name == rel:
			shown = "@"
		case rel == "@":
			shown = r.Name
		case strings.HasSuffix(r.Name, "."+rel):
			shown = strings.TrimSuffix(r.Name, "."+rel)
		default:
			continue
		}
		found = true
		if op.Filter == "node" && shown != "@" || op.Filter == "child" && shown == "@" {
			continue
		}
		if op.Data != "" && r.Data != op.Data {
			continue
		}
		if _, seen := byName[shown]; !seen {
			names = append(names, shown)
		}
		byName[shown] = append(byName[shown], r)
	}
	// The node first, then its children in the server's (alphabetical) order.
	sort.SliceStable(names, func(i, j int) bool {
		if (names[i] == "@") != (names[j] == "@") {
			return names[i] == "@"
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		for i, r := range byName[n] {
			ttl := r.TTL
			if ttl == 0 {
				ttl = dnsDefaultTTL
			}
			if i == 0 {
				lines = append(lines, fmt.Sprintf("%s %d %s\t%s", n, ttl, r.Type, r.Data))
			} else {
				lines = append(lines, fmt.Sprintf("\t\t%d %s\t%s", ttl, r.Type, r.Data))
			}
		}
	}
	return lines, found
}

// dnsServerIs reports whether the server argument names a DNS server dnscmd can reach
// from on: "" and "." are the local machine.
func (o *Org) dnsServerIs(on *Server, name string) bool {
	var s *Server
	switch strings.ToLower(name) {
	case "", ".", "localhost", "127.0.0.1":
		s = on
	default:
		if s = o.server(name); s == nil {
			s = o.serverByIP(name)
		}
	}
	return s != nil && s.Features["DNS"]
}

func (o *Org) dnsServerFQDN() string {
	for _, s := range o.servers {
		if s.Features["DNS"] {
			return s.FQDN()
		}
	}
	return ""
}

// dnscmdCmdlet is dnscmd.exe as PowerShell sees it: a native program whose output lines
// come back as strings and whose exit code lands in $LASTEXITCODE.
func (o *Org) dnscmdCmdlet(on *Server) *ps.Cmdlet {
	return &ps.Cmdlet{
		Name:   "dnscmd.exe",
		Native: true,
		Invoke: func(c *ps.Call) error {
			var out bytes.Buffer
			code := o.dnscmd(on, c.Args, &out, io.Discard)
			text := strings.TrimSuffix(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\n")
			if text != "" {
				for _, line := range strings.Split(text, "\n") {
					c.Write(line)
				}
			}
			c.SetExitCode(code)
			return nil
		},
	}
}

// DNSRecords returns a copy of a zone's records, for tests.
func (o *Org) DNSRecords(zone string) []DNSRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]DNSRecord(nil), o.dns[strings.TrimSuffix(strings.ToLower(zone), ".")]...)
}

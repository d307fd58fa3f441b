package lab

// Values of Exchange 2010's objects as its remote session serialises them: enums as
// enums of their .NET type (text = member name), ActivationPreference as key/value
// pairs, sizes as ByteQuantifiedSize text. The member names are Exchange's; the
// numeric values are the members' positions in the lab's lists below (the lab could
// not check Exchange's own numbering; clients must read enums by name).

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

const (
	enumCopyStatus   = "Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus"
	enumContentIndex = "Microsoft.Exchange.Management.SystemConfigurationTasks.ContentIndexStatusType"
	enumCheckResult  = "Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckResultEnum"
	enumServerRole   = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole"
	enumAutoActivate = "Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseCopyAutoActivationPolicyType"
	enumMountDial    = "Microsoft.Exchange.Data.Directory.SystemConfiguration.AutoDatabaseMountDial"
	enumSubnetState  = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseAvailabilityGroupNetworkSubnet+SubnetState"
	enumIfaceState   = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseAvailabilityGroupNetworkInterface+InterfaceState"
	enumQueueStatus  = "Microsoft.Exchange.Data.QueueViewer.QueueStatus"
	enumDeliveryType = "Microsoft.Exchange.Data.DeliveryType"
	enumMAPIResult   = "Microsoft.Exchange.Monitoring.CasTransactionResultEnum"
)

var enumMembers = map[string][]string{
	enumCopyStatus: {"Unknown", "Initializing", "Resynchronizing", "DisconnectedAndResynchronizing", "DisconnectedAndHealthy",
		"Healthy", "Failed", "FailedAndSuspended", "Suspended", "Seeding", "Mounting", "Mounted", "Dismounting", "Dismounted",
		"NonExchangeReplication", "SeedingSource", "Misconfigured", "ServiceDown"},
	enumContentIndex: {"Unknown", "Healthy", "Crawling", "Failed", "Seeding", "FailedAndSuspended", "Suspended", "Disabled"},
	enumCheckResult:  {"Undefined", "Passed", "Warning", "Failed"},
	enumAutoActivate: {"Unrestricted", "IntrasiteOnly", "Blocked"},
	enumMountDial:    {"BestAvailability", "GoodAvailability", "Lossless"},
	enumSubnetState:  {"Unknown", "Up", "Down", "Partitioned", "Misconfigured", "Unavailable"},
	enumIfaceState:   {"Unknown", "Up", "Failed", "Unreachable", "Unavailable"},
	enumQueueStatus:  {"None", "Active", "Ready", "Retry", "Suspended", "Connecting"},
	enumDeliveryType: {"Undefined", "DnsConnectorDelivery", "MapiDelivery", "NonSmtpGatewayDelivery",
		"SmartHostConnectorDelivery", "SmtpRelayToRemoteAdSite", "SmtpRelayToTiRg", "SmtpRelayWithinAdSite",
		"SmtpRelayWithinAdSiteToEdge", "Unreachable", "ShadowRedundancy", "Heartbeat"},
	enumMAPIResult: {"Undefined", "Success", "Failure", "Skipped"},
}

// enum builds an enum value of a known type; an unknown member keeps its name and
// gets -1, so a mistake shows in the golden files instead of passing as member 0.
func enum(typ, name string) ps.Enum {
	for i, m := range enumMembers[typ] {
		if strings.EqualFold(m, name) {
			return ps.Enum{Type: typ, Name: m, Value: i}
		}
	}
	return ps.Enum{Type: typ, Name: name, Value: -1}
}

// serverRoleEnum is ServerRole, a flags enum: its text lists the flags in the order
// of their values, as .NET prints flags.
func serverRoleEnum(s *Server) ps.Enum {
	flags := []struct {
		name string
		bit  int
	}{{"Mailbox", 2}, {"ClientAccess", 4}, {"UnifiedMessaging", 16}, {"HubTransport", 32}, {"Edge", 64}}
	var names []string
	v := 0
	for _, f := range flags {
		if s.HasRole(f.name) {
			names = append(names, f.name)
			v |= f.bit
		}
	}
	if len(names) == 0 {
		return ps.Enum{Type: enumServerRole, Name: "None", Value: 0}
	}
	return ps.Enum{Type: enumServerRole, Name: strings.Join(names, ", "), Value: v}
}

// checkResult is Test-ReplicationHealth's Result: an object holding the enum in its
// Value. Its text is for the console, not the enum's name: "Passed" for a pass, and
// for a failure "*FAILED*" (as Exchange 2010 prints it, so it stands out; the lab
// keeps "Warning" for a warning); on a server
// whose display language is not English the texts are translated (the lab's German
// ones are its own stand-ins, not Exchange's wording). The enum's member name is the
// same everywhere, which is why clients must read Value.
func checkResult(result, culture string) *ps.Object {
	e := enum(enumCheckResult, result)
	o := ps.NewObject(typeCheckResult, "Value", e)
	o.Str = checkResultText(e.Name, culture)
	return o
}

// checkResultTexts are the lab's console texts of ReplicationCheckResultEnum, by culture.
var checkResultTexts = map[string]map[string]string{
	"en-US": {"Passed": "Passed", "Warning": "Warning", "Failed": "*FAILED*", "Undefined": "Undefined"},
	"de-DE": {"Passed": "Bestanden", "Warning": "*WARNUNG*", "Failed": "*FEHLER*", "Undefined": "Nicht definiert"},
}

func checkResultText(name, culture string) string {
	if culture == "" {
		culture = "en-US"
	}
	if t, ok := checkResultTexts[culture][name]; ok {
		return t
	}
	return name
}

// SetCulture sets the display language of a server's Exchange: "en-US" (the
// default) or "de-DE", the one other language the lab translates into.
func (o *Org) SetCulture(server, culture string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.exchangeServer(server)
	if s == nil {
		return fmt.Errorf("lab: %s is not an Exchange server", server)
	}
	if _, ok := checkResultTexts[culture]; !ok {
		return fmt.Errorf("lab: culture %q: the lab knows en-US and de-DE", culture)
	}
	s.Culture = culture
	return nil
}

// preferencePairs is MailboxDatabase.ActivationPreference: one key/value pair per
// copy (server, preference) in preference order, each with the text "[EX10-MB01, 1]".
func preferencePairs(db *Database) []any {
	out := []any{}
	for _, c := range byPreference(db) {
		kv := ps.NewObject(typePreferencePair, "Key", c.Server, "Value", c.Preference)
		kv.Str = fmt.Sprintf("[%s, %d]", c.Server, c.Preference)
		out = append(out, kv)
	}
	return out
}

// lagPairs is MailboxDatabase.ReplayLagTimes or TruncationLagTimes: one pair per copy
// in preference order, "[EX10-MB02, 7.00:00:00]", 00:00:00 for a copy without lag.
func lagPairs(db *Database, lag func(*Copy) time.Duration) []any {
	out := []any{}
	for _, c := range byPreference(db) {
		text := timeSpanText(lag(c))
		kv := ps.NewObject(typeLagPair, "Key", c.Server, "Value", text)
		kv.Str = fmt.Sprintf("[%s, %s]", c.Server, text)
		out = append(out, kv)
	}
	return out
}

// timeSpanText is a TimeSpan's text, [d.]hh:mm:ss.
func timeSpanText(d time.Duration) string {
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	return s
}

// byteQuantifiedSize is the text of Exchange's ByteQuantifiedSize: the value in the
// largest unit that keeps it at 1 or more, with at most one decimal as .NET's "0.#"
// rounds, then the exact byte count with thousands separators:
// "1.5 GB (1,610,612,736 bytes)".
func byteQuantifiedSize(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	num := strconv.FormatFloat(v, 'f', 1, 64)
	num = strings.TrimSuffix(num, ".0")
	return fmt.Sprintf("%s %s (%s bytes)", num, units[i], thousands(n))
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// databaseSize is the lab's size of every database file (1.5 GB): fixed, so reports
// are stable.
func databaseSize(*Database) int64 { return 1536 << 20 }

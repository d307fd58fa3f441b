package lab

import (
	"fmt"

	"github.com/exchops/exchops/lab/kerberos"
	"github.com/exchops/exchops/lab/wsman"
)

// kerberosAcceptors returns, for each server by name, the acceptor of tickets for its
// HTTP/<fqdn> (none without a keytab). Each server accepts only its own SPN, as a real
// one holds only its own machine account's keys.
func kerberosAcceptors(keytabPath string, servers []*Server) (map[string]wsman.KerberosAcceptor, error) {
	acceptors := make(map[string]wsman.KerberosAcceptor)
	if keytabPath == "" {
		return acceptors, nil
	}
	kt, err := kerberos.LoadKeytab(keytabPath)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	for _, s := range servers {
		a, err := kerberos.New(kerberos.Config{Keytab: kt, SPNs: []string{"HTTP/" + s.FQDN()}})
		if err != nil {
			return nil, fmt.Errorf("lab: server %s: %w", s.Name, err)
		}
		acceptors[s.Name] = a
	}
	return acceptors, nil
}

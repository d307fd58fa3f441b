package lab

import (
	"context"
	"fmt"
	"strings"
)

// Scale makes the organisation larger than the walkthrough's, for benchmarks and load
// tests: more mailbox servers and databases, optionally already in a DAG with healthy
// copies, as a big production organisation would be.
type Scale struct {
	Members   int    // mailbox servers EX10-MB01 … (at least 2, at most 16 as in a DAG)
	Databases int    // databases MB01 …; database i is active on member i mod Members
	Copies    int    // copies of each database, the active one included, on the next members (1 to Members)
	DAG       string // when set, every member joins this DAG (witness EX10-CAHT, C:\FSW) and the copies exist, Healthy
}

// scale grows the organisation; it runs before the servers are served.
func (o *Org) scale(sc Scale) error {
	if sc.Members < 2 || sc.Members > 16 || sc.Databases < 1 || sc.Databases > 999 {
		return fmt.Errorf("lab: scale %d members and %d databases: want 2-16 members and 1-999 databases", sc.Members, sc.Databases)
	}
	if sc.Copies < 1 || sc.Copies > sc.Members || (sc.Copies > 1 && sc.DAG == "") {
		return fmt.Errorf("lab: scale %d copies: want 1 to the number of members, and a DAG for more than one", sc.Copies)
	}
	o.mu.Lock()
	template := o.mailboxServer("EX10-MB01")
	dbTemplate := o.database("MB01")
	var members []string
	for i := 1; i <= sc.Members; i++ {
		name := fmt.Sprintf("EX10-MB%02d", i)
		members = append(members, name)
		if o.mailboxServer(name) != nil {
			continue
		}
		s := *template
		s.Name, s.Features = name, map[string]bool{}
		s.NICs = []NIC{
			{Name: "MAPI", IP: fmt.Sprintf("10.0.0.%d", 10+i), Mask: "255.255.255.0"},
			{Name: "Replication", IP: fmt.Sprintf("10.0.1.%d", 10+i), Mask: "255.255.255.0"},
		}
		o.servers = append(o.servers, &s)
		o.dns[Domain] = append(o.dns[Domain], DNSRecord{Name: strings.ToLower(name), Type: "A", Data: s.NICs[0].IP})
	}
	for i := 1; i <= sc.Databases; i++ {
		name := fmt.Sprintf("MB%02d", i)
		server := members[(i-1)%len(members)]
		if db := o.database(name); db != nil {
			continue
		}
		db := *dbTemplate
		db.Name, db.Active = name, server
		db.EdbFilePath = strings.ReplaceAll(dbTemplate.EdbFilePath, "MB01", name)
		db.LogFolderPath = strings.ReplaceAll(dbTemplate.LogFolderPath, "MB01", name)
		db.RpcClientAccessServer = strings.ToLower(server) + "." + Domain
		first := *dbTemplate.Copies[0]
		first.Server = server
		db.Copies = []*Copy{&first}
		o.databases = append(o.databases, &db)
	}
	if sc.DAG == "" {
		o.mu.Unlock()
		return nil
	}
	// The DAG is built at once: joining and seeding take no time here.
	timing := o.Timing
	o.Timing = Timing{}
	defer func() { o.mu.Lock(); o.Timing = timing; o.mu.Unlock() }()
	if _, err := o.newDAG(sc.DAG, "EX10-CAHT", `C:\FSW`, nil); err != nil {
		o.mu.Unlock()
		return err
	}
	o.mu.Unlock()
	for _, m := range members {
		if err := o.addDAGMember(context.Background(), sc.DAG, m); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := 1; i <= sc.Databases; i++ {
		for c := 1; c < sc.Copies; c++ {
			if err := o.addCopy(fmt.Sprintf("MB%02d", i), members[(i-1+c)%len(members)], c+1, false); err != nil {
				return err
			}
		}
	}
	return nil
}

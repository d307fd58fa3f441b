package lab

import "github.com/exchops/exchops/commands"

// Env is the organisation the lab simulates, as exchops' configuration would describe
// it: the planning environment of `exchops plan` without a configuration, of the demo
// and of the tests. Each call returns a fresh value.
func Env() commands.Env {
	return commands.Env{
		ManagementServer: "EX10-CAHT",
		DNSServer:        "DC01",
		Servers: []commands.Server{
			{Name: "EX10-MB01", Roles: []string{commands.RoleMailbox}},
			{Name: "EX10-MB02", Roles: []string{commands.RoleMailbox}},
			{Name: "EX10-CAHT", Roles: []string{commands.RoleClientAccess, "hubtransport"}},
			{Name: "EX10-CAHT02", Roles: []string{commands.RoleClientAccess, "hubtransport"}},
			{Name: "DC01", Roles: []string{"dns"}},
		},
	}
}

package approvals_test

import (
	"testing"

	"github.com/exchops/exchops/approvals"
)

func TestSeesRunnerDetails(t *testing.T) {
	for _, tc := range []struct {
		roles []approvals.Role
		want  bool
	}{
		{[]approvals.Role{approvals.RoleAdmin}, true},
		{[]approvals.Role{approvals.RoleApprover}, true},
		{[]approvals.Role{approvals.RoleViewer}, false},
		{[]approvals.Role{approvals.RoleViewer, approvals.RoleApprover}, true},
		{nil, false},
	} {
		if got := (approvals.Person{Name: "x", Roles: tc.roles}).SeesRunnerDetails(); got != tc.want {
			t.Errorf("roles %v: SeesRunnerDetails = %v, want %v", tc.roles, got, tc.want)
		}
	}
}

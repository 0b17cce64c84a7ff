package caddymodule

import (
	"net/http"
	"reflect"
	"testing"
)

func TestStripIdentity(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"none", http.Header{"Accept": {"*/*"}}, http.Header{"Accept": {"*/*"}}},
		{"canonical", http.Header{"X-User-Id": {"mallory"}, "X-Tenant-Id": {"t"}, "X-Session-Id": {"s"}, "Accept": {"*/*"}},
			http.Header{"Accept": {"*/*"}}},
		{"other case and underscores", http.Header{"x-user-id": {"a"}, "X_User_Id": {"b"}, "x_TENANT_id": {"c"}, "X-SESSION_ID": {"d"}},
			http.Header{}},
		{"look-alikes stay", http.Header{"X-User-Ids": {"a"}, "X-User": {"b"}, "Xx-User-Id": {"c"}},
			http.Header{"X-User-Ids": {"a"}, "X-User": {"b"}, "Xx-User-Id": {"c"}}},
		{"connection mentions removed", http.Header{"Connection": {"keep-alive, X-User-Id", "x_tenant_id"}},
			http.Header{"Connection": {"keep-alive"}}},
		{"connection with only mentions dropped", http.Header{"Connection": {"X-User-Id, X-Session-Id"}},
			http.Header{}},
		{"connection without mentions untouched", http.Header{"Connection": {"keep-alive,  Upgrade"}},
			http.Header{"Connection": {"keep-alive,  Upgrade"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stripIdentity(tt.in)
			if !reflect.DeepEqual(tt.in, tt.want) {
				t.Errorf("got %v, want %v", tt.in, tt.want)
			}
		})
	}
}

// Stripping costs every request: a request without identity headers, as browsers send them,
// allocates nothing.
func TestStripIdentityDoesNotAllocate(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive"}, "Accept": {"*/*"}, "Authorization": {"Bearer x"}, "User-Agent": {"Mozilla/5.0"}}
	if n := testing.AllocsPerRun(100, func() { stripIdentity(h) }); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

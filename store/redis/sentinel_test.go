package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/redis/redistest"
	"github.com/sessiongate/sessiongate/store/storetest"
)

// TestSentinel runs the suite and the watch test through a redis+sentinel:// URL: the store
// asks a real Sentinel for the master, as a gateway in front of a Sentinel deployment does.
func TestSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t, "sg-master")
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			st, err := Open(t.Context(), sn.URL(), Options{Prefix: newPrefix()})
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	t.Run("Watch", func(t *testing.T) { testWatch(t, sn.URL()) })
	t.Run("WritesReachMaster", func(t *testing.T) {
		n, err := raw(t, sn.Master.URL()).DBSize(t.Context()).Result()
		if err != nil || n == 0 {
			t.Errorf("DBSIZE of the master = %d, %v; want the keys written through the Sentinel", n, err)
		}
	})
	// The store finds the master only through the Sentinel: a name it does not know fails.
	t.Run("UnknownMaster", func(t *testing.T) {
		url := strings.Replace(sn.URL(), "master_name="+sn.MasterName, "master_name=unknown", 1)
		st := open(t, url, Options{Prefix: newPrefix(), Timeout: 200 * time.Millisecond})
		if _, err := st.Get(t.Context(), "t1", "s1"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get through an unknown master name: error = %v, want a store error", err)
		}
	})
	// Last: it leaves the master requiring a password. The URL's user and password are the
	// Sentinels'; the master's are in the query.
	t.Run("MasterPassword", func(t *testing.T) {
		if err := raw(t, sn.Master.URL()).ConfigSet(t.Context(), "requirepass", "m4ster").Err(); err != nil {
			t.Fatal(err)
		}
		opts := Options{Prefix: newPrefix(), Timeout: 500 * time.Millisecond}
		userinfo := strings.Replace(sn.URL(), "://", "://:m4ster@", 1)
		if _, err := open(t, userinfo, opts).Get(t.Context(), "t1", "s1"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("Get with the master's password as the URL's: error = %v, want NOAUTH from the master", err)
		}
		if _, err := open(t, sn.URL()+"&password=m4ster", opts).Get(t.Context(), "t1", "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get with the master's password in the query: error = %v, want ErrNotFound", err)
		}
	})
}

// TestOpenRedactsSentinelMasterPassword checks that the master's password, which a Sentinel URL
// has in its query, does not end up in Open's error either.
func TestOpenRedactsSentinelMasterPassword(t *testing.T) {
	for _, url := range []string{
		"redis+sentinel://localhost:26379/0?password=s3cret",
		"redis+sentinel://:s3cret@localhost:26379/0?master_name=m&password=s3cret&no_such_option=1",
	} {
		if _, err := Open(t.Context(), url, Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) error = %v, want one without the password", url, err)
		}
	}
}

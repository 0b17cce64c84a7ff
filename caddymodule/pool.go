package caddymodule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sessiongate/sessiongate/enforcer"
	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/bolt"
	"github.com/sessiongate/sessiongate/store/memory"
	"github.com/sessiongate/sessiongate/store/redis"
)

// pool shares each store, and the tracker (caches, pending activity) on it, across config
// reloads: Caddy provisions the new config before it cleans up the old one, and a bolt file
// cannot be opened twice.
var pool = caddy.NewUsagePool()

// shared is a pooled store and its tracker.
type shared struct {
	key     string
	store   store.Store
	tracker *enforcer.Tracker
}

// Destruct runs when the last config using the store is cleaned up.
func (s *shared) Destruct() error {
	s.tracker.Close()
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("closing session store: %w", err)
	}
	return nil
}

func (s *shared) release() error {
	_, err := pool.Delete(s.key)
	return err
}

func loadShared(key string, open func() (store.Store, error), cfg enforcer.TrackerConfig) (*shared, error) {
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := open()
		if err != nil {
			return nil, err
		}
		t, err := enforcer.NewTracker(st, cfg)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		return &shared{key: key, store: st, tracker: t}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*shared), nil
}

// boltLockTimeout bounds the wait for a bolt file another process holds, so that neither
// `caddy run` nor `caddy validate` hangs on it.
const boltLockTimeout = time.Second

func openBolt(path string) (store.Store, error) {
	st, err := bolt.Open(path, bolt.Options{Timeout: boltLockTimeout})
	if err != nil {
		return nil, fmt.Errorf("store bolt %s (is another Caddy process using it?): %w", path, err)
	}
	return st, nil
}

func openMemory() store.Store { return memory.New() }

// openRedis makes the client; it connects lazily, so Caddy starts while Redis is down and
// requests get 503 until it is back.
func openRedis(url string) (store.Store, error) {
	redisLogOnce.Do(func() { goredis.SetLogger(redisLog{caddy.Log().Named("sessiongate.redis")}) })
	st, err := redis.Open(context.Background(), url, redis.Options{TombstoneTTL: enforcer.TombstoneRetention})
	if err != nil {
		return nil, fmt.Errorf("store redis: %w", err)
	}
	return st, nil
}

var redisLogOnce sync.Once

// redisLog sends go-redis's own messages (reconnects, dial failures) to Caddy's log instead of
// stderr.
type redisLog struct{ log *zap.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// live is the enforcers of the loaded configs, newest last, for the admin routes, which Caddy
// creates apart from any config.
var live struct {
	sync.Mutex
	list []*enforcer.Enforcer
}

func registerLive(e *enforcer.Enforcer) {
	live.Lock()
	live.list = append(live.list, e)
	live.Unlock()
}

func unregisterLive(e *enforcer.Enforcer) {
	live.Lock()
	defer live.Unlock()
	for i, x := range live.list {
		if x == e {
			live.list = append(live.list[:i], live.list[i+1:]...)
			return
		}
	}
}

// liveEnforcers returns one enforcer per store in use, that of the newest config first.
func liveEnforcers() []*enforcer.Enforcer {
	live.Lock()
	defer live.Unlock()
	var out []*enforcer.Enforcer
	seen := map[*enforcer.Tracker]bool{}
	for i := len(live.list) - 1; i >= 0; i-- {
		if e := live.list[i]; !seen[e.Tracker()] {
			seen[e.Tracker()] = true
			out = append(out, e)
		}
	}
	return out
}

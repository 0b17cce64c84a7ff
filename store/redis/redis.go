// Package redis is a store.Store in Redis, for gateway nodes that share their sessions. It also
// implements store.Watcher: every write that ends a session or changes a policy is published on
// a pub/sub channel by the same script that makes the write.
//
// # URLs
//
// Open takes one URL, whose scheme says how to reach Redis:
//
//   - redis://[user:password@]host:port/db, rediss://... (TLS), unix:///path/redis.sock?db=N:
//     one server (go-redis ParseURL);
//   - redis+sentinel://[user:password@]sentinel:port/db?master_name=NAME&addr=sentinel2:port...
//     (or rediss+sentinel://): the master that Sentinel names (go-redis ParseFailoverURL). The
//     user and password are the Sentinels'; the master's go in the query: &username=U&password=P;
//   - redis+cluster://[user:password@]host:port?addr=host2:port&addr=host3:port...
//     (or rediss+cluster://): a Redis Cluster, from these seed nodes (go-redis ParseClusterURL).
//
// The query may set go-redis options (dial_timeout, pool_size, ...); the dial, read and write
// timeouts it leaves unset are Options.Timeout, which also bounds every call as a whole. Open
// does not connect, so that a gateway starts while Redis is down: calls fail until it is back.
// The scripts need Redis 7.0 or later (SET NX GET, PEXPIRE GT).
//
// # Keys
//
// Every key starts with Options.Prefix; one letter then says what it holds. Tenant and user ids
// are written as <length>:<id> (a session id always ends its key), so that tenant "a:b" with user
// "c" and tenant "a" with user "b:c" get different keys. A user's keys share the hash tag
// {<tenant><user>}, hence one Cluster hash slot, which lets one script create, evict and end that
// user's sessions atomically:
//
//	s{<tenant><user>}<id>  hash   a session: t u i (ids), c a e (created, last active, ended:
//	                              see timeKey), r (reason), d (IP, User-Agent, device, location as
//	                              JSON), x (TTL set again by each touch, ms), z (tombstone TTL, ms)
//	l{<tenant><user>}      set    ids of the user's live sessions
//	c{<tenant><user>}      string the user's cut-off (timeKey)
//	i<tenant><id>          string session pointer "<written at, unix ms>:<touch TTL, ms>:<user>":
//	                              Get and End name a session without its user (and
//	                              Touch does in a Cluster)
//	p<tenant>              string the tenant's policy (JSON)
//	u{<tenant>}            zset   users that may have live sessions (all scores 0: ListUsers pages
//	                              through them in user id order)
//	a{<tenant>}            hash   user -> when a creation for them last started (unix ms)
//	changes                pub/sub channel of the change feed
//
// Create writes the pointer first (SET NX) and then runs its script in the user's slot. A
// pointer without a session (a refused creation) reads as no session. When a pointer names
// another user whose session under that id is gone, the creation takes the id over; two users
// creating the same session id at the same instant could both succeed, which does not happen
// with the identity provider's unique session ids.
//
// # Expiry
//
// An ended session expires after its tombstone TTL: Options.TombstoneTTL, or the policy's force
// re-login when longer (recorded at creation, since End, EndUser and Sweep get no policy). A live
// session expires when its policy would have ended it a tombstone TTL ago: with an idle timeout,
// idle timeout + tombstone TTL after its last touch, and up to a slack later (a sixteenth of
// that, at most an hour and half the tombstone TTL: a touch extends the TTLs that much further,
// so that the touches within the slack of it need not extend them again); with only a force
// re-login, force re-login + tombstone TTL after its creation; without either it has no TTL. A user's live set expires with
// the last of its sessions; a cut-off after the tombstone TTL (tokens issued before it are long
// expired by then). A pointer has a TTL when its session has one, a tombstone TTL longer, so that
// it outlives the session's tombstone too. Sweep removes what expiry cannot: pointers without a
// session (left by refused creations, or by sessions that had no TTL while live), and users
// without live sessions from their tenant's index, each once older than an hour, so that a
// creation in flight keeps them.
//
// # Change feed
//
// The scripts publish {"tenant":..., "sessions":[ids...]} or {"tenant":..., "policy":true} on
// <prefix>changes with classic PUBLISH, which a Cluster delivers to subscribers on every node.
package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sessiongate/sessiongate/store"
)

// Defaults of Options.
const (
	DefaultTimeout      = time.Second
	DefaultPrefix       = "sg:"
	DefaultTombstoneTTL = 30 * 24 * time.Hour
)

// Options configure Open. Zero values take the defaults.
type Options struct {
	// Timeout bounds each call to the store (each round trip of a Sweep or ListUsers page).
	Timeout time.Duration
	// Prefix starts every key and the change channel, so that several stores can share a
	// database. It must not contain '{' or '}', and no store's prefix may start another's.
	Prefix string
	// TombstoneTTL is how long an ended session is kept at least (see the package comment).
	TombstoneTTL time.Duration
}

// The letters that follow the prefix (see the package comment).
const (
	kindSession   = 's'
	kindLive      = 'l'
	kindCutoff    = 'c'
	kindPointer   = 'i'
	kindPolicy    = 'p'
	kindUsers     = 'u'
	kindCreations = 'a'
)

// staleAfter is how old a pointer or a user index entry must be before Sweep removes it: far
// longer than a creation takes, and than the clocks of two nodes differ.
const staleAfter = time.Hour

// defaultScanCount is the COUNT of Sweep's SCANs: about how many keys one batch handles.
const defaultScanCount = 1000

// Store is a store.Store and store.Watcher in Redis.
type Store struct {
	client    goredis.UniversalClient
	prefix    string
	channel   string
	timeout   time.Duration
	tombstone time.Duration
	scanCount int64

	mu      sync.Mutex
	closed  bool
	done    context.Context // cancelled by Close, which stops the watches
	stop    context.CancelFunc
	watches sync.WaitGroup
}

// Open returns a store on the Redis that rawURL names (see the package comment). It fails only
// for a malformed URL or options: it does not reach Redis, which may be down. The context is
// not used: nothing is dialled before the first call.
func Open(_ context.Context, rawURL string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = DefaultTombstoneTTL
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redis: key prefix %q contains a brace, which would make it the Cluster hash tag", opts.Prefix)
	}
	client, err := newClient(rawURL, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("redis: store URL %q: %w", redactURL(rawURL), err)
	}
	done, stop := context.WithCancel(context.Background())
	return &Store{
		client:    client,
		prefix:    opts.Prefix,
		channel:   opts.Prefix + "changes",
		timeout:   opts.Timeout,
		tombstone: opts.TombstoneTTL,
		scanCount: defaultScanCount,
		done:      done,
		stop:      stop,
	}, nil
}

// newClient builds the go-redis client for the URL's scheme.
func newClient(rawURL string, timeout time.Duration) (goredis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL, which may hold a password
	}
	if err != nil {
		return nil, err
	}
	scheme, mode, _ := strings.Cut(u.Scheme, "+")
	u.Scheme = scheme
	// Context deadlines must reach the sockets, or a call would outlive its timeout.
	switch mode {
	case "":
		opt, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		setTimeouts(timeout, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
		opt.ContextTimeoutEnabled = true
		return goredis.NewClient(opt), nil
	case "cluster":
		if strings.Trim(u.Path, "/") != "" {
			return nil, errors.New("a cluster URL has no database number: a Redis Cluster has only database 0")
		}
		opt, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			return nil, err
		}
		setTimeouts(timeout, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
		opt.ContextTimeoutEnabled = true
		return goredis.NewClusterClient(opt), nil
	case "sentinel":
		opt, err := goredis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, err
		}
		if opt.MasterName == "" {
			return nil, errors.New("a sentinel URL needs master_name")
		}
		setTimeouts(timeout, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
		opt.ContextTimeoutEnabled = true
		return goredis.NewFailoverClient(opt), nil
	default:
		return nil, fmt.Errorf("unknown scheme %q (want redis, rediss or unix, optionally with +cluster or +sentinel)", u.Scheme+"+"+mode)
	}
}

func setTimeouts(timeout time.Duration, fields ...*time.Duration) {
	for _, f := range fields {
		if *f == 0 {
			*f = timeout
		}
	}
}

// redactURL hides the passwords of a URL that goes into an error: its user's, and the master's
// of a Sentinel URL, which is in the query.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// bound gives one call its timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, tenantID, id string) (store.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sess, err := s.get(ctx, tenantID, id)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis: getting session %s/%s: %w", tenantID, id, err)
	}
	return sess, nil
}

func (s *Store) get(ctx context.Context, tenantID, id string) (store.Session, error) {
	ptr, err := s.pointer(ctx, tenantID, id)
	if err != nil {
		return store.Session{}, err
	}
	fields, err := s.client.HGetAll(ctx, s.recordKey(tenantID, ptr.user, id)).Result()
	if err != nil {
		return store.Session{}, err
	}
	if len(fields) == 0 {
		return store.Session{}, store.ErrNotFound
	}
	return fromFields(fields)
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, req store.CreateRequest) (store.CreateResult, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.create(ctx, &req)
	if err != nil {
		return store.CreateResult{}, fmt.Errorf("redis: creating session %s/%s: %w", req.Session.TenantID, req.Session.ID, err)
	}
	return res, nil
}

func (s *Store) create(ctx context.Context, req *store.CreateRequest) (store.CreateResult, error) {
	sess := req.Session
	tenant, user, id := sess.TenantID, sess.UserID, sess.ID
	life := s.lifetimes(&req.Policy)
	now := time.Now()
	ptrKey := s.pointerKey(tenant, id)
	ptr := pointer{at: now.UnixMilli(), touchTTL: life.pointerTouchTTL(), user: user}.String()

	// The pointer first, so that the session is never without one; the tenant's user index in
	// the same round trip (other slots: it cannot be part of the script).
	pipe := s.client.Pipeline()
	set := pipe.SetArgs(ctx, ptrKey, ptr, goredis.SetArgs{Mode: "NX", Get: true, TTL: life.pointerTTL()})
	pipe.HSet(ctx, s.creationsKey(tenant), user, now.UnixMilli())
	pipe.ZAdd(ctx, s.usersKey(tenant), goredis.Z{Member: user})
	if err := execPipe(ctx, pipe); err != nil {
		return store.CreateResult{}, err
	}
	old, err := set.Result()
	existed := err == nil // else goredis.Nil: the pointer was set
	if existed {
		prev, err := parsePointer(old)
		if err != nil {
			return store.CreateResult{}, fmt.Errorf("pointer %s: %w", ptrKey, err)
		}
		if prev.user != user {
			fields, err := s.client.HGetAll(ctx, s.recordKey(tenant, prev.user, id)).Result()
			if err != nil {
				return store.CreateResult{}, err
			}
			if len(fields) > 0 {
				cur, err := fromFields(fields)
				return store.CreateResult{Session: cur}, err
			}
		}
	}

	data, err := json.Marshal(detailsOf(&sess))
	if err != nil {
		return store.CreateResult{}, err
	}
	var forceBefore, idleBefore, limit string
	if p := req.Policy.ForceRelogin; p.Enabled {
		forceBefore = timeKey(req.Now.Add(-p.Duration))
	}
	if p := req.Policy.IdleTimeout; p.Enabled {
		idleBefore = timeKey(req.Now.Add(-p.Duration))
	}
	if p := req.Policy.MaxSessions; p.Enabled {
		limit = strconv.Itoa(p.Max)
	}
	var issued string
	if !req.IssuedAt.IsZero() {
		issued = timeKey(req.IssuedAt)
	}
	reply, err := createScript.Run(ctx, s.client,
		[]string{s.recordKey(tenant, user, id), s.liveKey(tenant, user), s.cutoffKey(tenant, user)},
		s.recordPrefix(tenant, user), s.channel, tenant, user, id,
		timeKey(sess.CreatedAt), timeKey(sess.LastActiveAt), data,
		ms(life.initial), ms(life.touch), ms(life.tombstone),
		issued, timeKey(req.Now), forceBefore, idleBefore, limit, req.Policy.MaxSessions.Strategy,
	).Slice()
	if err != nil {
		return store.CreateResult{}, err
	}
	if len(reply) < 2 {
		return store.CreateResult{}, fmt.Errorf("create script returned %d values", len(reply))
	}
	var res store.CreateResult
	if res.Ended, err = decodeRecords(reply[2:]); err != nil {
		return store.CreateResult{}, err
	}
	switch outcome := fmt.Sprint(reply[0]); outcome {
	case "existing":
		res.Session, err = decodeRecord(reply[1])
		return res, err
	case "created":
		if sess.Location != nil { // the result must not share the caller's Location
			loc := *sess.Location
			sess.Location = &loc
		}
		res.Session, res.Created = sess, true
		if existed {
			// A pointer was there before (a refused creation, another user's): it now names
			// this session, and is fresh for Sweep.
			if err := s.client.Set(ctx, ptrKey, ptr, life.pointerTTL()).Err(); err != nil {
				return store.CreateResult{}, err
			}
		}
		return res, nil
	case store.ReasonRevoked, store.RefusedLimit:
		res.Refused = outcome
		return res, nil
	default:
		return store.CreateResult{}, fmt.Errorf("create script returned outcome %q", outcome)
	}
}

// End implements store.Store.
func (s *Store) End(ctx context.Context, tenantID, id, reason string, now time.Time) (store.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sess, err := s.end(ctx, tenantID, id, reason, now)
	if err != nil {
		return store.Session{}, fmt.Errorf("redis: ending session %s/%s: %w", tenantID, id, err)
	}
	return sess, nil
}

func (s *Store) end(ctx context.Context, tenantID, id, reason string, now time.Time) (store.Session, error) {
	ptr, err := s.pointer(ctx, tenantID, id)
	if err != nil {
		return store.Session{}, err
	}
	call := s.endCall(tenantID, ptr.user, id, reason, now)
	reply, err := call.script.Run(ctx, s.client, call.keys, call.args...).Slice()
	if err != nil {
		return store.Session{}, err
	}
	_, sess, found, err := decodeEnd(reply)
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return sess, err
}

func (s *Store) endCall(tenantID, userID, id, reason string, now time.Time) *scriptCall {
	return &scriptCall{
		script: endScript,
		keys:   []string{s.recordKey(tenantID, userID, id), s.liveKey(tenantID, userID)},
		args:   []any{s.recordPrefix(tenantID, userID), s.channel, tenantID, id, reason, timeKey(now)},
	}
}

// decodeEnd reads endScript's reply: whether it ended the session, and the session if found.
func decodeEnd(reply []any) (ended bool, sess store.Session, found bool, err error) {
	if len(reply) != 2 {
		return false, sess, false, fmt.Errorf("end script returned %d values", len(reply))
	}
	if rec, ok := reply[1].([]any); !ok || len(rec) == 0 {
		return false, sess, false, nil
	}
	sess, err = decodeRecord(reply[1])
	return reply[0] == int64(1), sess, true, err
}

// EndUser implements store.Store.
func (s *Store) EndUser(ctx context.Context, tenantID, userID string, req store.EndUserRequest) ([]store.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	setCutoff := ""
	if req.SetCutoff {
		setCutoff = "1"
	}
	reply, err := endUserScript.Run(ctx, s.client,
		[]string{s.liveKey(tenantID, userID), s.cutoffKey(tenantID, userID)},
		s.recordPrefix(tenantID, userID), s.channel, tenantID, timeKey(req.Now), req.Reason, req.KeepID,
		setCutoff, ms(s.tombstone),
	).Slice()
	var ended []store.Session
	if err == nil {
		ended, err = decodeRecords(reply)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: ending sessions of user %s/%s: %w", tenantID, userID, err)
	}
	return ended, nil
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(ctx context.Context, tenantID, userID string) ([]store.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	call := s.liveCall(tenantID, userID)
	reply, err := call.script.Run(ctx, s.client, call.keys, call.args...).Slice()
	var live []store.Session
	if err == nil {
		live, err = decodeRecords(reply)
	}
	if err != nil {
		return nil, fmt.Errorf("redis: listing sessions of user %s/%s: %w", tenantID, userID, err)
	}
	slices.SortFunc(live, func(a, b store.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return live, nil
}

func (s *Store) liveCall(tenantID, userID string) *scriptCall {
	return &scriptCall{
		script: liveScript,
		keys:   []string{s.liveKey(tenantID, userID)},
		args:   []any{s.recordPrefix(tenantID, userID)},
	}
}

// ListUsers implements store.Store. It pages through the tenant's user index, reading the live
// sessions of a page's users in one round trip, until it has limit users with live sessions.
func (s *Store) ListUsers(ctx context.Context, tenantID, after string, limit int, p store.Policy, now time.Time) ([]store.UserSummary, error) {
	out, err := s.listUsers(ctx, tenantID, after, limit, &p, now)
	if err != nil {
		return nil, fmt.Errorf("redis: listing users of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

func (s *Store) listUsers(ctx context.Context, tenantID, after string, limit int, p *store.Policy, now time.Time) ([]store.UserSummary, error) {
	var out []store.UserSummary
	from := "-"
	if after != "" {
		from = "(" + after
	}
	for len(out) < limit {
		want := limit - len(out)
		users, calls, err := s.usersPage(ctx, tenantID, from, want)
		if err != nil {
			return nil, err
		}
		for i, u := range users {
			reply, err := calls[i].cmd.Slice()
			if err != nil {
				return nil, err
			}
			live, err := decodeRecords(reply)
			if err != nil {
				return nil, err
			}
			sum := store.UserSummary{UserID: u}
			for j := range live {
				sum.Add(&live[j], p, now)
			}
			if sum.ActiveSessions > 0 && len(out) < limit {
				out = append(out, sum)
			}
		}
		if len(users) < want {
			break
		}
		from = "(" + users[len(users)-1]
	}
	return out, nil
}

// usersPage reads up to n users of the tenant's index from from, and their live sessions.
func (s *Store) usersPage(ctx context.Context, tenantID, from string, n int) ([]string, []*scriptCall, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	users, err := s.client.ZRangeByLex(ctx, s.usersKey(tenantID), &goredis.ZRangeBy{Min: from, Max: "+", Count: int64(n)}).Result()
	if err != nil {
		return nil, nil, err
	}
	calls := make([]*scriptCall, len(users))
	for i, u := range users {
		calls[i] = s.liveCall(tenantID, u)
	}
	return users, calls, s.runScripts(ctx, calls, nil)
}

// Touch implements store.Store: one round trip reads the sessions' pointers, a second touches
// them and extends their pointers' TTLs.
func (s *Store) Touch(ctx context.Context, touches []store.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.touch(ctx, touches); err != nil {
		return fmt.Errorf("redis: touching %d sessions: %w", len(touches), err)
	}
	return nil
}

// touchChunk bounds the sessions of one touchManyScript call, which holds the server for its
// whole run: 256 take it about 2.5 ms (BenchmarkTouch: about 10 us of its CPU per session).
const touchChunk = 256

// touch writes the touches. One server (or Sentinel's master) takes them in scripts of
// touchChunk sessions each, in one round trip. A Cluster takes one script per session, since
// a session's pointer is in another slot than its record: first the pointers, to check each
// session's user, then the scripts.
func (s *Store) touch(ctx context.Context, touches []store.Touch) error {
	if _, ok := s.client.(*goredis.ClusterClient); ok {
		return s.touchEach(ctx, touches)
	}
	calls := make([]*scriptCall, 0, (len(touches)+touchChunk-1)/touchChunk)
	for chunk := range slices.Chunk(touches, touchChunk) {
		keys := make([]string, 0, 3*len(chunk))
		args := make([]any, 0, len(chunk))
		for _, t := range chunk {
			keys = append(keys, s.recordKey(t.TenantID, t.UserID, t.ID), s.liveKey(t.TenantID, t.UserID), s.pointerKey(t.TenantID, t.ID))
			args = append(args, timeKey(t.At))
		}
		calls = append(calls, &scriptCall{script: touchManyScript, keys: keys, args: args})
	}
	return s.runScripts(ctx, calls, nil)
}

func (s *Store) touchEach(ctx context.Context, touches []store.Touch) error {
	pipe := s.client.Pipeline()
	gets := make([]*goredis.StringCmd, len(touches))
	for i, t := range touches {
		gets[i] = pipe.Get(ctx, s.pointerKey(t.TenantID, t.ID))
	}
	if err := execPipe(ctx, pipe); err != nil {
		return err
	}
	var calls []*scriptCall
	var pointers []string // the pointer key of each call
	for i, t := range touches {
		v, err := gets[i].Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		ptr, err := parsePointer(v)
		if err != nil {
			return fmt.Errorf("pointer of session %s/%s: %w", t.TenantID, t.ID, err)
		}
		calls = append(calls, &scriptCall{
			script: touchScript,
			keys:   []string{s.recordKey(t.TenantID, ptr.user, t.ID), s.liveKey(t.TenantID, ptr.user)},
			args:   []any{timeKey(t.At)},
		})
		pointers = append(pointers, s.pointerKey(t.TenantID, t.ID))
	}
	if err := s.runScripts(ctx, calls, nil); err != nil {
		return err
	}
	// The pointers of the records whose TTL a script extended get theirs (a third round trip,
	// once per slack of each session).
	extend := s.client.Pipeline()
	for i, c := range calls {
		if ttl, _ := c.cmd.Int64(); ttl > 0 {
			extend.PExpire(ctx, pointers[i], time.Duration(ttl)*time.Millisecond)
		}
	}
	if extend.Len() == 0 {
		return nil
	}
	return execPipe(ctx, extend)
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, tenantID string) (store.Policy, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var p store.Policy
	v, err := s.client.Get(ctx, s.policyKey(tenantID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		err = store.ErrNotFound
	}
	if err == nil {
		err = json.Unmarshal(v, &p)
	}
	if err != nil {
		return store.Policy{}, fmt.Errorf("redis: getting policy of tenant %s: %w", tenantID, err)
	}
	return p, nil
}

// PutPolicy implements store.Store.
func (s *Store) PutPolicy(ctx context.Context, tenantID string, p store.Policy) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := json.Marshal(p)
	if err == nil {
		err = putPolicyScript.Run(ctx, s.client, []string{s.policyKey(tenantID)}, v, s.channel, tenantID).Err()
	}
	if err != nil {
		return fmt.Errorf("redis: putting policy of tenant %s: %w", tenantID, err)
	}
	return nil
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(ctx context.Context, tenantID string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := deletePolicyScript.Run(ctx, s.client, []string{s.policyKey(tenantID)}, s.channel, tenantID).Err(); err != nil {
		return fmt.Errorf("redis: deleting policy of tenant %s: %w", tenantID, err)
	}
	return nil
}

// Sweep implements store.Store. It SCANs each master (one after another: decide need not be
// safe for concurrent use) for the keys under the prefix, a batch per SCAN call: it reads the
// batch's sessions, calls decide outside of any script or transaction, and applies the answers
// in one pipeline, each end or purge a script of its own that checks the record again. It
// also drops stale pointers and users without live sessions from the tenant indexes (see the
// package comment). SCAN may return a key twice: sessions already decided on are skipped. ctx
// is checked between batches, a batch once begun is finished; each round trip has the store's
// timeout.
func (s *Store) Sweep(ctx context.Context, now time.Time, decide func(*store.Session) (store.SweepAction, string)) (ended, purged int, err error) {
	sw := &sweep{Store: s, now: now, decide: decide, decided: map[uint64]struct{}{}}
	if err := sw.run(ctx); err != nil {
		return sw.ended, sw.purged, fmt.Errorf("redis: sweeping sessions: %w", err)
	}
	return sw.ended, sw.purged, nil
}

type sweep struct {
	*Store
	now           time.Time
	decide        func(*store.Session) (store.SweepAction, string)
	decided       map[uint64]struct{} // hashes of the session keys decided on
	ended, purged int
}

func (sw *sweep) run(ctx context.Context) error {
	nodes, err := sw.masters(ctx)
	if err != nil {
		return err
	}
	match := globEscape(sw.prefix) + "*"
	for _, node := range nodes {
		for cursor := uint64(0); ; {
			if err := ctx.Err(); err != nil {
				return err
			}
			var keys []string
			err := sw.roundTrip(ctx, func(ctx context.Context) (err error) {
				keys, cursor, err = node.Scan(ctx, cursor, match, sw.scanCount).Result()
				return err
			})
			if err != nil {
				return err
			}
			// A batch once read is finished: decide may have acted on its answers.
			if err := sw.batch(context.WithoutCancel(ctx), keys); err != nil {
				return err
			}
			if cursor == 0 {
				break
			}
		}
	}
	return nil
}

// masters returns what to SCAN: every master of a Cluster, else the one client.
func (s *Store) masters(ctx context.Context) ([]goredis.Cmdable, error) {
	cluster, ok := s.client.(*goredis.ClusterClient)
	if !ok {
		return []goredis.Cmdable{s.client}, nil
	}
	var mu sync.Mutex
	var nodes []goredis.Cmdable
	err := s.roundTrip(ctx, func(ctx context.Context) error {
		return cluster.ForEachMaster(ctx, func(_ context.Context, node *goredis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			nodes = append(nodes, node)
			return nil
		})
	})
	return nodes, err
}

func (s *Store) roundTrip(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return fn(ctx)
}

// batch handles the keys of one SCAN call.
func (sw *sweep) batch(ctx context.Context, keys []string) error {
	var records, pointers []string
	for _, key := range keys {
		switch key[len(sw.prefix)] {
		case kindSession:
			// decide must see each session once; the other keys' handling can be repeated.
			h := xxhash.Sum64String(key)
			if _, ok := sw.decided[h]; ok {
				continue
			}
			sw.decided[h] = struct{}{}
			records = append(records, key)
		case kindPointer:
			pointers = append(pointers, key)
		case kindUsers:
			if err := sw.users(ctx, key); err != nil {
				return err
			}
		}
	}
	if err := sw.sessions(ctx, records); err != nil {
		return err
	}
	return sw.pointers(ctx, pointers)
}

// sessions decides on the sessions at keys and applies the decisions.
func (sw *sweep) sessions(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	reads := make([]*goredis.MapStringStringCmd, len(keys))
	err := sw.roundTrip(ctx, func(ctx context.Context) error {
		pipe := sw.client.Pipeline()
		for i, key := range keys {
			reads[i] = pipe.HGetAll(ctx, key)
		}
		return execPipe(ctx, pipe)
	})
	if err != nil {
		return err
	}
	var ends, purges []*scriptCall
	for i, read := range reads {
		fields := read.Val()
		if len(fields) == 0 {
			continue // gone since the SCAN
		}
		sess, err := fromFields(fields)
		if err != nil {
			return fmt.Errorf("session record %s: %w", keys[i], err)
		}
		tenant, user, id, ended := sess.TenantID, sess.UserID, sess.ID, sess.Ended()
		switch action, reason := sw.decide(&sess); action {
		case store.SweepEnd:
			if !ended {
				ends = append(ends, sw.endCall(tenant, user, id, reason, sw.now))
			}
		case store.SweepPurge:
			purges = append(purges, &scriptCall{
				script: purgeScript,
				keys:   []string{keys[i], sw.liveKey(tenant, user)},
				args:   []any{sw.recordPrefix(tenant, user), id},
			})
		}
	}
	err = sw.roundTrip(ctx, func(ctx context.Context) error {
		return sw.runScripts(ctx, append(ends, purges...), nil)
	})
	if err != nil {
		return err
	}
	for _, call := range ends {
		reply, err := call.cmd.Slice()
		if err != nil {
			return err
		}
		ended, _, _, err := decodeEnd(reply)
		if err != nil {
			return err
		}
		if ended {
			sw.ended++
		}
	}
	for _, call := range purges {
		if call.cmd.Val() == int64(1) {
			sw.purged++
		}
	}
	return nil
}

// pointers deletes the pointers at keys that are older than staleAfter and name no session.
func (sw *sweep) pointers(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	reads := make([]*goredis.StringCmd, len(keys))
	err := sw.roundTrip(ctx, func(ctx context.Context) error {
		pipe := sw.client.Pipeline()
		for i, key := range keys {
			reads[i] = pipe.Get(ctx, key)
		}
		return execPipe(ctx, pipe)
	})
	if err != nil {
		return err
	}
	type candidate struct {
		key, value string
		exists     *goredis.IntCmd
	}
	var old []*candidate
	staleBefore := time.Now().Add(-staleAfter).UnixMilli()
	for i, read := range reads {
		v, err := read.Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		ptr, err := parsePointer(v)
		if err != nil {
			return fmt.Errorf("pointer %s: %w", keys[i], err)
		}
		if ptr.at < staleBefore {
			old = append(old, &candidate{key: keys[i], value: v})
		}
	}
	if len(old) == 0 {
		return nil
	}
	err = sw.roundTrip(ctx, func(ctx context.Context) error {
		pipe := sw.client.Pipeline()
		for _, c := range old {
			tenant, id, err := parsePointerKey(c.key[len(sw.prefix)+1:])
			if err != nil {
				return fmt.Errorf("pointer %s: %w", c.key, err)
			}
			ptr, _ := parsePointer(c.value) // parsed above
			c.exists = pipe.Exists(ctx, sw.recordKey(tenant, ptr.user, id))
		}
		return execPipe(ctx, pipe)
	})
	if err != nil {
		return err
	}
	var drops []*scriptCall
	for _, c := range old {
		if c.exists.Val() == 0 {
			drops = append(drops, &scriptCall{script: dropPointerScript, keys: []string{c.key}, args: []any{c.value}})
		}
	}
	return sw.roundTrip(ctx, func(ctx context.Context) error { return sw.runScripts(ctx, drops, nil) })
}

// users drops from the tenant user index at key the users without a live set.
func (sw *sweep) users(ctx context.Context, key string) error {
	tenant, err := parseUsersKey(key[len(sw.prefix)+1:])
	if err != nil {
		return fmt.Errorf("user index %s: %w", key, err)
	}
	for from := "-"; ; {
		var users []string
		var exists []*goredis.IntCmd
		err := sw.roundTrip(ctx, func(ctx context.Context) error {
			var err error
			users, err = sw.client.ZRangeByLex(ctx, key, &goredis.ZRangeBy{Min: from, Max: "+", Count: sw.scanCount}).Result()
			if err != nil || len(users) == 0 {
				return err
			}
			pipe := sw.client.Pipeline()
			exists = make([]*goredis.IntCmd, len(users))
			for i, u := range users {
				exists[i] = pipe.Exists(ctx, sw.liveKey(tenant, u))
			}
			return execPipe(ctx, pipe)
		})
		if err != nil || len(users) == 0 {
			return err
		}
		args := []any{time.Now().Add(-staleAfter).UnixMilli()}
		for i, u := range users {
			if exists[i].Val() == 0 {
				args = append(args, u)
			}
		}
		if len(args) > 1 {
			err := sw.roundTrip(ctx, func(ctx context.Context) error {
				return dropUsersScript.Run(ctx, sw.client, []string{key, sw.creationsKey(tenant)}, args...).Err()
			})
			if err != nil {
				return err
			}
		}
		if int64(len(users)) < sw.scanCount {
			return nil
		}
		from = "(" + users[len(users)-1]
	}
}

// Watch implements store.Watcher. It subscribes to the change channel and runs until ctx is
// done or the store is closed. While no message comes for half the store's timeout it sends a
// PING; when the pong does not come within another half, the connection is taken as lost: a
// hung server or a silent network is noticed within the timeout. go-redis redials and
// subscribes again on the next receive, which is retried with backoff.
func (s *Store) Watch(ctx context.Context, changed func(store.Change), connected func(bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.done, cancel)
	s.watches.Add(1)
	go func() {
		defer s.watches.Done()
		defer stop()
		defer cancel()
		s.watch(ctx, changed, connected)
	}()
}

func (s *Store) watch(ctx context.Context, changed func(store.Change), connected func(bool)) {
	ps := s.client.Subscribe(ctx, s.channel) // when this fails, the first receive tries again
	// Closing the subscription ends a receive that is waiting, so that Close need not wait.
	context.AfterFunc(ctx, func() { _ = ps.Close() })
	const minBackoff = 50 * time.Millisecond
	backoff, health := minBackoff, s.timeout/2
	up, pinged := false, false
	for ctx.Err() == nil {
		var msg any
		var err error
		if pinged {
			// Without an allowed timeout, go-redis takes a timed-out read as a broken
			// connection and drops it.
			rctx, cancel := context.WithTimeout(ctx, health)
			msg, err = ps.ReceiveTimeout(rctx, 0)
			cancel()
		} else if msg, err = ps.ReceiveTimeout(ctx, health); isTimeout(err) {
			if err = ps.Ping(ctx); err == nil {
				pinged = true
				continue
			}
		}
		if err != nil {
			pinged = false
			if ctx.Err() != nil {
				return
			}
			if up {
				up = false
				connected(false)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, s.timeout)
			continue
		}
		pinged, backoff = false, minBackoff
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				up = true
				connected(true)
			}
		case *goredis.Message:
			// A message that is not a change was not written by a store: it is ignored.
			if c, ok := decodeChange(m.Payload); ok {
				changed(c)
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// change is a store.Change as published by the scripts.
type change struct {
	Tenant   string   `json:"tenant"`
	Sessions []string `json:"sessions"`
	Policy   bool     `json:"policy"`
}

func decodeChange(payload string) (store.Change, bool) {
	var c change
	if err := json.Unmarshal([]byte(payload), &c); err != nil || c.Tenant == "" {
		return store.Change{}, false
	}
	return store.Change{TenantID: c.Tenant, SessionIDs: c.Sessions, Policy: c.Policy}, true
}

// Close implements store.Store. It stops the watches and closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.watches.Wait()
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redis: closing the client: %w", err)
	}
	return nil
}

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	script *goredis.Script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
}

// runScripts runs the calls in one pipeline with EVALSHA, and the commands that also queues.
// Calls whose script the server does not have (it restarted) run again with EVAL.
func (s *Store) runScripts(ctx context.Context, calls []*scriptCall, also func(goredis.Pipeliner)) error {
	pipe := s.client.Pipeline()
	for _, c := range calls {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if also != nil {
		also(pipe)
	}
	cmds, _ := pipe.Exec(ctx) // errors are checked per command below
	var missing []*scriptCall
	for _, c := range calls {
		if isNoScript(c.cmd.Err()) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		retry := s.client.Pipeline()
		for _, c := range missing {
			c.cmd = c.script.Eval(ctx, retry, c.keys, c.args...)
		}
		_, _ = retry.Exec(ctx) // checked below
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil {
			return err
		}
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !isNoScript(err) {
			return err
		}
	}
	return nil
}

func isNoScript(err error) bool {
	return errors.Is(err, goredis.ErrNoScript) || goredis.HasErrorPrefix(err, "NOSCRIPT")
}

// execPipe runs a pipeline and returns the first error of its commands; a missing key (nil
// reply) is no error.
func execPipe(ctx context.Context, pipe goredis.Pipeliner) error {
	cmds, _ := pipe.Exec(ctx) // errors are checked per command below
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
	}
	return nil
}

// lifetimes are the TTLs of a session created under a policy (see the package comment).
type lifetimes struct {
	initial   time.Duration // of the live record; 0: none
	touch     time.Duration // set again by each touch; 0: none
	tombstone time.Duration // of the ended record
}

func (s *Store) lifetimes(p *store.Policy) lifetimes {
	l := lifetimes{tombstone: s.tombstone}
	if p.ForceRelogin.Enabled {
		l.tombstone = max(l.tombstone, p.ForceRelogin.Duration)
	}
	switch {
	case p.IdleTimeout.Enabled:
		l.touch = p.IdleTimeout.Duration + l.tombstone
		l.initial = l.touch
	case p.ForceRelogin.Enabled:
		l.initial = p.ForceRelogin.Duration + l.tombstone
	}
	return l
}

// pointerTTL makes a pointer outlive its session, ended or not: the session ends before its
// live TTL runs out, and its record then lasts a tombstone TTL.
func (l lifetimes) pointerTTL() time.Duration {
	if l.initial == 0 {
		return 0
	}
	return l.initial + l.tombstone
}

func (l lifetimes) pointerTouchTTL() int64 {
	if l.touch == 0 {
		return 0
	}
	return ms(l.touch + l.tombstone)
}

// ms is d in whole milliseconds, rounded up: PEXPIRE with 0 would delete the key.
func ms(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// pointer is the value of a session pointer.
type pointer struct {
	at int64 // when it was written: unix ms, the writing node's clock
	// touchTTL is the ms a touch gave it (0: none) before touches took their TTLs from the
	// record (touchScript). It is still written for nodes of earlier versions sharing the
	// server during an upgrade, whose Cluster touches read it; this version does not.
	touchTTL int64
	user     string
}

func (p pointer) String() string {
	return strconv.FormatInt(p.at, 10) + ":" + strconv.FormatInt(p.touchTTL, 10) + ":" + p.user
}

func parsePointer(v string) (pointer, error) {
	at, rest, ok1 := strings.Cut(v, ":")
	ttl, user, ok2 := strings.Cut(rest, ":")
	var p pointer
	var err1, err2 error
	p.at, err1 = strconv.ParseInt(at, 10, 64)
	p.touchTTL, err2 = strconv.ParseInt(ttl, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return pointer{}, fmt.Errorf("malformed session pointer %q", v)
	}
	p.user = user
	return p, nil
}

// pointer reads the pointer of a session; ErrNotFound when there is none.
func (s *Store) pointer(ctx context.Context, tenantID, id string) (pointer, error) {
	v, err := s.client.Get(ctx, s.pointerKey(tenantID, id)).Result()
	if errors.Is(err, goredis.Nil) {
		return pointer{}, store.ErrNotFound
	}
	if err != nil {
		return pointer{}, err
	}
	return parsePointer(v)
}

// enc writes an id so that it cannot run into what follows it in a key.
func enc(id string) string { return strconv.Itoa(len(id)) + ":" + id }

// writeEnc writes enc(id) to b.
func writeEnc(b *strings.Builder, id string) {
	var n [20]byte
	b.Write(strconv.AppendInt(n[:0], int64(len(id)), 10))
	b.WriteByte(':')
	b.WriteString(id)
}

// dec reads an id written by enc at the start of s and returns what follows.
func dec(s string) (id, rest string, err error) {
	n, rest, ok := strings.Cut(s, ":")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || l > len(rest) {
		return "", "", fmt.Errorf("malformed key part %q", s)
	}
	return rest[:l], rest[l:], nil
}

// userKey is the key of kind for the user, with the user's hash tag, followed by rest. It
// is built in one allocation: a flush builds three keys per session it touches.
func (s *Store) userKey(kind byte, tenantID, userID, rest string) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + len(tenantID) + len(userID) + len(rest) + 2*(20+1) + 3)
	b.WriteString(s.prefix)
	b.WriteByte(kind)
	b.WriteByte('{')
	writeEnc(&b, tenantID)
	writeEnc(&b, userID)
	b.WriteByte('}')
	b.WriteString(rest)
	return b.String()
}

func (s *Store) recordPrefix(tenantID, userID string) string {
	return s.userKey(kindSession, tenantID, userID, "")
}

func (s *Store) recordKey(tenantID, userID, id string) string {
	return s.userKey(kindSession, tenantID, userID, id)
}

func (s *Store) liveKey(tenantID, userID string) string {
	return s.userKey(kindLive, tenantID, userID, "")
}

func (s *Store) cutoffKey(tenantID, userID string) string {
	return s.userKey(kindCutoff, tenantID, userID, "")
}

// pointerKey has no hash tag: pointers spread over the whole Cluster.
func (s *Store) pointerKey(tenantID, id string) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + len(tenantID) + len(id) + 20 + 2)
	b.WriteString(s.prefix)
	b.WriteByte(kindPointer)
	writeEnc(&b, tenantID)
	b.WriteString(id)
	return b.String()
}

// parsePointerKey reads the tenant and session id of a pointer key past its kind letter.
func parsePointerKey(rest string) (tenantID, id string, err error) {
	return dec(rest)
}

func (s *Store) policyKey(tenantID string) string {
	return s.prefix + string(kindPolicy) + tenantID
}

func (s *Store) usersKey(tenantID string) string {
	return s.prefix + string(kindUsers) + "{" + enc(tenantID) + "}"
}

// parseUsersKey reads the tenant of a user index key past its kind letter.
func parseUsersKey(rest string) (string, error) {
	tenant, tail, err := dec(strings.TrimPrefix(rest, "{"))
	if err == nil && (tail != "}" || !strings.HasPrefix(rest, "{")) {
		err = fmt.Errorf("malformed user index key %q", rest)
	}
	return tenant, err
}

func (s *Store) creationsKey(tenantID string) string {
	return s.prefix + string(kindCreations) + "{" + enc(tenantID) + "}"
}

// globEscape makes s match itself in a SCAN pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// yearOneToUnix is the number of seconds from year 1 to 1970.
const yearOneToUnix = 62135596800

// timeKey writes t as 21 digits: seconds since January 1 of year 1 (12), then nanoseconds (9).
// The scripts compare these (see prelude); the zero time is all zeros.
func timeKey(t time.Time) string {
	sec := t.Unix() + yearOneToUnix
	if sec < 0 || sec > 999_999_999_999 {
		return fmt.Sprintf("%012d%09d", sec, t.Nanosecond()) // not a time sessions have
	}
	var b [21]byte
	putDigits(b[:12], uint64(sec))
	putDigits(b[12:], uint64(t.Nanosecond()))
	return string(b[:])
}

// putDigits writes v in decimal into all of b, zero-padded; b is long enough.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

func parseTimeKey(v string) (time.Time, error) {
	if len(v) != 21 {
		return time.Time{}, fmt.Errorf("malformed time %q", v)
	}
	sec, err1 := strconv.ParseInt(v[:12], 10, 64)
	nsec, err2 := strconv.ParseInt(v[12:], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("malformed time %q", v)
	}
	return time.Unix(sec-yearOneToUnix, nsec).UTC(), nil
}

// details is what a session record keeps as JSON: what no script reads.
type details struct {
	IP        string          `json:"ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	Device    store.Device    `json:"device"`
	Location  *store.Location `json:"location,omitempty"`
}

func detailsOf(s *store.Session) details {
	return details{IP: s.IP, UserAgent: s.UserAgent, Device: s.Device, Location: s.Location}
}

// fromFields decodes a session record.
func fromFields(f map[string]string) (store.Session, error) {
	s := store.Session{TenantID: f["t"], UserID: f["u"], ID: f["i"], EndReason: f["r"]}
	var d details
	err := json.Unmarshal([]byte(f["d"]), &d)
	if err == nil {
		s.CreatedAt, err = parseTimeKey(f["c"])
	}
	if err == nil {
		s.LastActiveAt, err = parseTimeKey(f["a"])
	}
	if e, ok := f["e"]; ok && err == nil {
		s.EndedAt, err = parseTimeKey(e)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("decoding session record: %w", err)
	}
	s.IP, s.UserAgent, s.Device, s.Location = d.IP, d.UserAgent, d.Device, d.Location
	return s, nil
}

// decodeRecord decodes a session record as a script returns it: HGETALL's flat list.
func decodeRecord(v any) (store.Session, error) {
	flat, ok := v.([]any)
	if !ok || len(flat)%2 != 0 {
		return store.Session{}, fmt.Errorf("malformed session record %v", v)
	}
	f := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		v, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return store.Session{}, fmt.Errorf("malformed session record %v", flat)
		}
		f[k] = v
	}
	return fromFields(f)
}

func decodeRecords(vs []any) ([]store.Session, error) {
	var out []store.Session
	for _, v := range vs {
		s, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Watcher = (*Store)(nil)
)

package enforcer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/sessiongate/sessiongate/cache"
	"github.com/sessiongate/sessiongate/store"
)

// TombstoneRetention is the shortest time an ended session is remembered, so that its token
// cannot bring it back. A tenant whose force re-login is longer keeps them that long.
const TombstoneRetention = 30 * 24 * time.Hour

// TrackerConfig tunes a Tracker. Zero values take the documented defaults.
type TrackerConfig struct {
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// SessionCacheSize is how many sessions are cached. Default: 250000.
	SessionCacheSize int64
	// PolicyCacheSize is how many tenants' policies are cached. Default: 10000.
	PolicyCacheSize int64
	// TouchInterval is the least time between two writes of one session's last activity.
	// Default: a tenth of the session's idle timeout, between 1s and 1m (1m without one).
	TouchInterval time.Duration
	// FlushEvery is how often due activity is written. Default: 1s.
	FlushEvery time.Duration
	// SweepEvery is how often ended and dead sessions are swept. Default: 1h.
	SweepEvery time.Duration
	Logger     *zap.Logger
}

// Tracker is the session state shared by every enforcer that uses one store: the store, the
// session and policy caches, the buffered idle touches and the sweeper. Every write to
// sessions or policies goes through it, so its caches are never stale on this node.
type Tracker struct {
	store    store.Store
	now      func() time.Time
	log      *zap.Logger
	sessions *cache.Cache[*liveSession]
	policies *cache.Cache[*tenantPolicy]

	touchInterval time.Duration
	flushEvery    time.Duration
	sweepEvery    time.Duration

	// sweepDefaults is the default policy the sweeper applies to tenants without their own:
	// that of the config loaded last.
	sweepDefaults atomic.Pointer[store.Policy]

	loads singleflight.Group // store reads (and creations) of sessions missing from the cache

	mu sync.Mutex
	// due holds the dirty sessions (activity not yet written) by when their activity is due
	// to be written (writtenAt + interval), in steps of flushEvery: a flush takes the steps
	// that have come instead of walking every dirty session, of which a busy node has
	// hundreds of thousands.
	due map[int64][]*liveSession
	// dropped holds, by key, the dirty sessions the session cache has dropped: what this node
	// has seen of them is found there, until it is written, rather than in the cache. The
	// dirty sessions the cache holds are not in it, so that a touch, on every request to a
	// session once per interval, does no lookup by key.
	dropped map[string]*liveSession

	// With a store shared by several nodes, feedDownSince is when its change feed was lost
	// (unix nanoseconds; 0 while it is up). Cached entries are trusted for MaxFeedGap past
	// that, then every request reads the store until the feed is back.
	watched       bool
	feedDownSince atomic.Int64
	stopWatch     context.CancelFunc

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// liveSession is a cached session: what requests need of the store's record, which never
// changes once loaded, and the activity seen on this node. It is kept small: a node caches
// up to a million of them.
type liveSession struct {
	key        string // sessionKey(tenant, id); it and userID share the claims' allocation
	userID     string
	endReason  *string       // nil while the session is live (a pointer: 8 bytes, not 16)
	createdAt  int64         // unix nanoseconds
	interval   time.Duration // touch interval
	lastActive atomic.Int64  // unix nanoseconds, exact on this node
	stored     atomic.Int64  // the latest activity the store is known to have
	writtenAt  atomic.Int64  // when activity was last written (or loaded)
	dirty      atomic.Bool

	// gone is set once the session cache drops this copy. Until then a token's claims may
	// point here directly (Claims.live), which spares a request the cache lookup; after it,
	// they must look again: what dropped it may have been an invalidation.
	gone atomic.Bool
	// policy is the tenant's policy entry as last found in the policy cache, likewise valid
	// while it is not gone.
	policy atomic.Pointer[tenantPolicy]
}

func (ls *liveSession) raise(t int64) { raiseTo(&ls.lastActive, t) }

// raiseTo sets v to t unless it is already later.
func raiseTo(v *atomic.Int64, t int64) {
	for {
		old := v.Load()
		if t <= old || v.CompareAndSwap(old, t) {
			return
		}
	}
}

func (ls *liveSession) lastActiveTime() time.Time { return time.Unix(0, ls.lastActive.Load()) }

// ids splits the key into tenant and session ids.
func (ls *liveSession) ids() (tenantID, id string) {
	i := strings.IndexByte(ls.key, 0)
	return ls.key[:i], ls.key[i+1:]
}

// tenantPolicy is a cached answer to "what policy has this tenant set?".
type tenantPolicy struct {
	p    store.Policy
	own  bool        // false: the tenant has none and the default applies
	gone atomic.Bool // set once the policy cache drops it, as liveSession.gone
}

// effective is the policy that applies: the tenant's own, else defaults.
func (tp *tenantPolicy) effective(defaults *store.Policy) *store.Policy {
	if tp.own {
		return &tp.p
	}
	return defaults
}

// NewTracker starts a tracker on st. Close stops it and flushes pending activity; it does
// not close st.
func NewTracker(st store.Store, cfg TrackerConfig) (*Tracker, error) {
	t := &Tracker{
		store:         st,
		now:           cfg.Now,
		log:           cfg.Logger,
		touchInterval: cfg.TouchInterval,
		flushEvery:    cfg.FlushEvery,
		sweepEvery:    cfg.SweepEvery,
		dropped:       map[string]*liveSession{},
		due:           map[int64][]*liveSession{},
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	if t.flushEvery <= 0 {
		t.flushEvery = time.Second
	}
	if t.sweepEvery <= 0 {
		t.sweepEvery = time.Hour
	}
	var err error
	t.sessions, err = cache.New(orDefault(cfg.SessionCacheSize, 250_000), func(ls *liveSession) {
		if ls != nil {
			t.drop(ls)
		}
	})
	if err != nil {
		return nil, err
	}
	t.policies, err = cache.New(orDefault(cfg.PolicyCacheSize, 10_000), func(tp *tenantPolicy) {
		if tp != nil {
			tp.gone.Store(true)
		}
	})
	if err != nil {
		t.sessions.Close()
		return nil, err
	}
	if w, ok := st.(store.Watcher); ok {
		t.watched = true
		t.feedDownSince.Store(t.now().UnixNano()) // not subscribed yet
		var ctx context.Context
		ctx, t.stopWatch = context.WithCancel(context.Background())
		w.Watch(ctx, t.applyChange, t.feedState)
	}
	go t.background()
	return t, nil
}

// MaxFeedGap is how long a node that lost its store's change feed keeps trusting its caches.
const MaxFeedGap = 2 * time.Second

// applyChange drops what another node changed.
func (t *Tracker) applyChange(c store.Change) {
	if len(c.SessionIDs) > 0 {
		keys := make([]string, len(c.SessionIDs))
		for i, id := range c.SessionIDs {
			keys[i] = sessionKey(c.TenantID, id)
		}
		t.sessions.Invalidate(keys...)
	}
	if c.Policy {
		t.policies.Invalidate(c.TenantID)
	}
}

// feedState follows the change feed: changes made while it was down were missed, so a
// (re)connection drops everything cached.
func (t *Tracker) feedState(up bool) {
	if !up {
		t.feedDownSince.CompareAndSwap(0, t.now().UnixNano())
		return
	}
	t.sessions.Purge()
	t.policies.Purge()
	t.feedDownSince.Store(0)
}

// trustCache reports whether cached entries may decide now.
func (t *Tracker) trustCache() bool {
	if !t.watched {
		return true
	}
	since := t.feedDownSince.Load()
	return since == 0 || t.now().UnixNano()-since < int64(MaxFeedGap)
}

func orDefault(n, def int64) int64 {
	if n > 0 {
		return n
	}
	return def
}

// SetSweepDefaults sets the default policy the sweeper applies (the last loaded config's).
func (t *Tracker) SetSweepDefaults(p store.Policy) { t.sweepDefaults.Store(&p) }

func (t *Tracker) background() {
	defer close(t.done)
	flush := time.NewTicker(t.flushEvery)
	defer flush.Stop()
	sweep := time.NewTicker(t.sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-flush.C:
			t.flush(false)
		case <-sweep.C:
			if _, _, err := t.Sweep(context.Background()); err != nil {
				t.log.Warn("sweeping sessions", zap.Error(err))
			}
		}
	}
}

// Close stops the background work and writes all pending activity.
func (t *Tracker) Close() {
	t.closeOnce.Do(func() {
		if t.stopWatch != nil {
			t.stopWatch()
		}
		close(t.stop)
		<-t.done
		t.flush(true)
		t.sessions.Close()
		t.policies.Close()
	})
}

// flush writes the activity of dirty sessions whose touch interval has passed (all of them
// when final).
func (t *Tracker) flush(final bool) {
	now := t.now().UnixNano()
	current := now / int64(t.flushEvery)
	t.mu.Lock()
	// Room for every session of the steps at hand: a busy second's thousands of touches would
	// otherwise grow the slice a dozen times over.
	n := 0
	for step, list := range t.due {
		if final || step <= current {
			n += len(list)
		}
	}
	touches := make([]store.Touch, 0, n)
	if final {
		for _, list := range t.due {
			for _, ls := range list {
				touches = t.appendTouch(touches, ls, now)
			}
		}
		clear(t.due)
	}
	for step, list := range t.due {
		if step > current {
			continue
		}
		// Every session of an earlier step is due; of the current step, those whose time has come.
		var later []*liveSession
		for _, ls := range list {
			if now-ls.writtenAt.Load() < int64(ls.interval) {
				later = append(later, ls)
				continue
			}
			touches = t.appendTouch(touches, ls, now)
		}
		if len(later) == 0 {
			delete(t.due, step)
		} else {
			t.due[step] = later
		}
	}
	t.mu.Unlock()
	if len(touches) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.store.Touch(ctx, touches); err != nil {
		t.log.Warn("writing session activity", zap.Int("sessions", len(touches)), zap.Error(err))
	}
}

// touch records activity at now, and queues it for writing.
func (t *Tracker) touch(ls *liveSession, now time.Time) {
	ls.raise(now.UnixNano())
	if ls.dirty.Load() || !ls.dirty.CompareAndSwap(false, true) {
		return
	}
	// Requests that reach the session through their claims do not look it up in the cache,
	// whose eviction goes by how often entries are looked up: once the cache is full, one
	// lookup per touch interval tells it which sessions are in use.
	if t.sessions.Full() {
		t.sessions.Get(ls.key)
	}
	t.mu.Lock()
	step := (ls.writtenAt.Load() + int64(ls.interval)) / int64(t.flushEvery)
	t.due[step] = append(t.due[step], ls)
	if ls.gone.Load() {
		// Dropped before it was dirty, by the cache (see drop), and touched by a request that
		// found it earlier.
		t.keepDropped(ls)
	}
	t.mu.Unlock()
}

// drop marks a session the cache has dropped, and keeps it by key while it is dirty. The
// flags are set before and read under t.mu, which touch and flush also hold when they read
// and change them: a session made dirty as it is dropped is kept here or by touch, or both.
func (t *Tracker) drop(ls *liveSession) {
	ls.gone.Store(true)
	if !ls.dirty.Load() {
		return // a touch racing with us sees gone when it queues the session
	}
	t.mu.Lock()
	if ls.dirty.Load() {
		t.keepDropped(ls)
	}
	t.mu.Unlock()
}

// keepDropped keeps a dirty session the cache has dropped. Should another copy of it be kept
// already (two requests that missed the cache together load two copies, and one of them is
// dropped when the other is cached), the two take the later activity of both, and both are
// written when due. The caller holds t.mu.
func (t *Tracker) keepDropped(ls *liveSession) {
	if cur := t.dropped[ls.key]; cur != nil && cur != ls {
		cur.raise(ls.lastActive.Load())
		ls.raise(cur.lastActive.Load())
		return
	}
	t.dropped[ls.key] = ls
}

// appendTouch takes a dirty session off the queue at now, adding its activity to touches
// unless the store already has it. The caller holds t.mu and has taken it out of t.due.
func (t *Tracker) appendTouch(touches []store.Touch, ls *liveSession, now int64) []store.Touch {
	// Clear the flag before reading the time: a touch racing with us marks it again.
	ls.dirty.Store(false)
	if ls.gone.Load() && t.dropped[ls.key] == ls {
		delete(t.dropped, ls.key)
	}
	ls.writtenAt.Store(now)
	at := ls.lastActive.Load()
	if at <= ls.stored.Load() {
		return touches // nothing new: a session's first request, say, whose creation wrote it
	}
	raiseTo(&ls.stored, at)
	tenantID, id := ls.ids()
	return append(touches, store.Touch{TenantID: tenantID, UserID: ls.userID, ID: id, At: time.Unix(0, at)})
}

// intervalFor is the touch interval of sessions under policy p.
func (t *Tracker) intervalFor(p *store.Policy) time.Duration {
	if t.touchInterval > 0 {
		return t.touchInterval
	}
	if !p.IdleTimeout.Enabled {
		return time.Minute
	}
	return min(max(p.IdleTimeout.Duration/10, time.Second), time.Minute)
}

// policy returns the tenant's effective policy: its own, else defaults.
func (t *Tracker) policy(ctx context.Context, tenantID string, defaults *store.Policy) (store.Policy, bool, error) {
	tp, _, err := t.policyEntry(ctx, tenantID, t.trustCache())
	if err != nil {
		return store.Policy{}, false, err
	}
	return *tp.effective(defaults), tp.own, nil
}

// policyEntry returns the tenant's policy entry from the cache when trusted, else from the
// store. linkable reports whether a session may link to it: the caches are trusted and the
// entry is the cache's (found there, or filled), so that it is marked gone once dropped.
func (t *Tracker) policyEntry(ctx context.Context, tenantID string, trusted bool) (tp *tenantPolicy, linkable bool, err error) {
	if trusted {
		if tp, ok := t.policies.Get(tenantID); ok {
			return tp, true, nil
		}
	}
	gen := t.policies.Generation()
	p, err := t.store.GetPolicy(ctx, tenantID)
	tp = &tenantPolicy{}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, false, err
	default:
		tp.p, tp.own = p, true
	}
	held := t.policies.Fill(tenantID, tp, gen)
	return tp, trusted && held, nil
}

// localActivity is the latest activity this node has seen on a session, from the cache or
// from activity not yet written; zero when it has none.
func (t *Tracker) localActivity(key string) time.Time {
	var last time.Time
	if ls, ok := t.sessions.Get(key); ok {
		last = ls.lastActiveTime()
	}
	t.mu.Lock()
	pending := t.dropped[key]
	t.mu.Unlock()
	if pending != nil && pending.lastActiveTime().After(last) {
		last = pending.lastActiveTime()
	}
	return last
}

// newLive wraps a session loaded from the store for the claims that named it, keeping
// activity this node has not written yet when the session was dropped from the cache
// meanwhile. The dropped copy is not used again: it is marked gone for good (links to it
// must stay broken, see linked), and stays queued until its activity is written.
func (t *Tracker) newLive(s *store.Session, c *Claims, p *store.Policy) *liveSession {
	t.mu.Lock()
	pending := t.dropped[c.sessionKey]
	t.mu.Unlock()
	ls := &liveSession{key: c.sessionKey, userID: c.UserID, createdAt: s.CreatedAt.UnixNano(), interval: t.intervalFor(p)}
	if s.Ended() {
		reason := s.EndReason
		ls.endReason = &reason
	}
	if s.UserID != c.UserID {
		ls.userID = s.UserID
	}
	ls.lastActive.Store(s.LastActiveAt.UnixNano())
	ls.stored.Store(s.LastActiveAt.UnixNano())
	ls.writtenAt.Store(t.now().UnixNano())
	if pending != nil && !s.Ended() {
		raiseTo(&pending.stored, s.LastActiveAt.UnixNano()) // what the store has needs no write
		ls.raise(pending.lastActive.Load())
	}
	return ls
}

// session returns the claims' session from the cache, else from the store, creating it when
// the store has none. Concurrent first requests of one session (a page firing its calls with
// a fresh token) share one load: one store read and at most one creation.
// linkable reports whether claims may link to it: the caches are trusted and the session is
// the cache's (found there, or filled), so that it is marked gone once dropped.
func (t *Tracker) session(ctx context.Context, c *Claims, now time.Time, p *store.Policy, client Client, locate func(string) *store.Location, trusted bool) (ls *liveSession, linkable bool, err error) {
	if trusted {
		if ls, ok := t.sessions.Get(c.sessionKey); ok {
			return ls, true, nil
		}
	}
	// Tokens of one session issued at different times may fare differently against the
	// user's cut-off: they load apart.
	key := c.sessionKey + "\x00" + c.UserID + "\x00" + strconv.FormatInt(c.issuedAt, 10)
	v, err, _ := t.loads.Do(key, func() (any, error) {
		// Shared: one caller going away must not fail the others.
		ctx := context.WithoutCancel(ctx)
		gen := t.sessions.Generation()
		s, err := t.store.Get(ctx, c.TenantID, c.SessionID)
		var ls *liveSession
		switch {
		case errors.Is(err, store.ErrNotFound):
			if ls, err = t.create(ctx, c, now, p, client, locate); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			ls = t.newLive(&s, c, p)
		}
		return loaded{ls, t.sessions.Fill(c.sessionKey, ls, gen)}, nil
	})
	if err != nil {
		return nil, false, err
	}
	l := v.(loaded)
	return l.ls, trusted && l.held, nil
}

// loaded is what one load of a session gives every request that shared it.
type loaded struct {
	ls   *liveSession
	held bool // Fill took it
}

// admit decides on one request of an identified user: the session is found or created,
// the policy applied and activity recorded. It returns "" to allow, else the refusal code.
func (t *Tracker) admit(ctx context.Context, c *Claims, now time.Time, defaults *store.Policy, client Client, locate func(string) *store.Location) (string, error) {
	trusted := t.trustCache()
	var ls *liveSession
	var tp *tenantPolicy
	if trusted {
		ls, tp = linked(c)
	}
	linkPolicy := false
	if tp == nil {
		var err error
		if tp, linkPolicy, err = t.policyEntry(ctx, c.TenantID, trusted); err != nil {
			return CodeStoreUnavailable, err
		}
	}
	p := tp.effective(defaults)
	if ls == nil {
		var linkable bool
		var err error
		if ls, linkable, err = t.session(ctx, c, now, p, client, locate, trusted); err != nil {
			var refused errRefused // declared here: errors.As makes it escape to the heap
			if errors.As(err, &refused) {
				return string(refused), nil
			}
			return CodeStoreUnavailable, err
		}
		if linkable && c.live.Load() != ls {
			c.live.Store(ls)
		}
	}
	if linkPolicy && ls.policy.Load() != tp {
		ls.policy.Store(tp)
	}
	if ls.userID != c.UserID {
		// A session id names one user's session; another user's token cannot take it over.
		return CodeInvalidToken, nil
	}
	if ls.endReason != nil {
		return *ls.endReason, nil
	}
	created := time.Unix(0, ls.createdAt)
	reason := p.EndReasonAt(created, ls.lastActiveTime(), now)
	if reason == store.ReasonIdleTimeout {
		// Another copy of the session on this node, or another node, may have seen activity
		// this copy has not: look at both before ending it.
		ls.raise(t.localActivity(c.sessionKey).UnixNano())
		s, err := t.store.Get(ctx, c.TenantID, c.SessionID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return CodeStoreUnavailable, err
		}
		ls.raise(s.LastActiveAt.UnixNano())
		if reason = p.EndReasonAt(created, ls.lastActiveTime(), now); s.Ended() {
			reason = s.EndReason
		}
	}
	if reason != "" {
		if _, err := t.end(ctx, c.TenantID, c.SessionID, reason); err != nil {
			return CodeStoreUnavailable, err
		}
		return reason, nil
	}
	t.touch(ls, now)
	return "", nil
}

// linked returns the session the claims lead to and the policy it leads to, as last found
// in the caches, each nil once its cache has dropped it: while both are there, a request
// costs no cache lookup.
func linked(c *Claims) (*liveSession, *tenantPolicy) {
	ls := c.live.Load()
	if ls == nil || ls.gone.Load() {
		return nil, nil
	}
	tp := ls.policy.Load()
	if tp != nil && tp.gone.Load() {
		tp = nil
	}
	return ls, tp
}

// errRefused carries the code of a creation the store refused.
type errRefused string

func (e errRefused) Error() string { return "session refused: " + string(e) }

// create makes the session a valid token names, under the tenant's limit and the user's
// cut-off.
func (t *Tracker) create(ctx context.Context, c *Claims, now time.Time, p *store.Policy, client Client, locate func(string) *store.Location) (*liveSession, error) {
	info := client.Info()
	ua := info.UserAgent
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	s := store.Session{
		TenantID: c.TenantID, UserID: c.UserID, ID: c.SessionID,
		CreatedAt: now, LastActiveAt: now,
		IP: info.IP, UserAgent: ua, Device: parseDevice(ua),
	}
	if locate != nil {
		s.Location = locate(info.IP)
	}
	issued := c.IssuedAt()
	if !issued.IsZero() {
		// iat counts whole seconds: a token minted in the same second as a sign-out, but
		// after it, must not be refused, so iat stands for the end of its second.
		issued = issued.Add(time.Second - time.Nanosecond)
	}
	res, err := t.store.Create(ctx, store.CreateRequest{Session: s, Policy: *p, IssuedAt: issued, Now: now})
	if err != nil {
		return nil, err
	}
	t.forget(res.Ended)
	if res.Refused != "" {
		return nil, errRefused(res.Refused)
	}
	return t.newLive(&res.Session, c, p), nil
}

// forget drops ended sessions from the cache.
func (t *Tracker) forget(ended []store.Session) {
	if len(ended) == 0 {
		return
	}
	keys := make([]string, len(ended))
	for i := range ended {
		keys[i] = sessionKey(ended[i].TenantID, ended[i].ID)
	}
	t.sessions.Invalidate(keys...)
}

// end ends one session with reason and drops it from the cache.
func (t *Tracker) end(ctx context.Context, tenantID, id, reason string) (store.Session, error) {
	s, err := t.store.End(ctx, tenantID, id, reason, t.now())
	if err != nil {
		return store.Session{}, err
	}
	t.sessions.Invalidate(sessionKey(tenantID, id))
	return s, nil
}

// EndSession revokes one session. Unknown sessions are store.ErrNotFound.
func (t *Tracker) EndSession(ctx context.Context, tenantID, id string) error {
	_, err := t.end(ctx, tenantID, id, store.ReasonRevoked)
	return err
}

// EndUserSessions revokes all of a user's sessions but keepID (when set) and sets the user's
// cut-off, so tokens issued before now cannot open new sessions either.
func (t *Tracker) EndUserSessions(ctx context.Context, tenantID, userID, keepID string) (int, error) {
	ended, err := t.store.EndUser(ctx, tenantID, userID, store.EndUserRequest{
		Reason: store.ReasonRevoked, Now: t.now(), KeepID: keepID, SetCutoff: true,
	})
	if err != nil {
		return 0, err
	}
	t.forget(ended)
	return len(ended), nil
}

// EndUserSession revokes one of the user's sessions; another user's (or an unknown) session
// is store.ErrNotFound, so callers cannot tell them apart.
func (t *Tracker) EndUserSession(ctx context.Context, tenantID, userID, id string) error {
	s, err := t.store.Get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if s.UserID != userID {
		return store.ErrNotFound
	}
	if s.Ended() {
		return nil
	}
	_, err = t.end(ctx, tenantID, id, store.ReasonRevoked)
	return err
}

// Users lists up to limit users of the tenant with live sessions, in user id order after
// the user id after.
func (t *Tracker) Users(ctx context.Context, tenantID, after string, limit int, defaults *store.Policy) ([]store.UserSummary, error) {
	p, _, err := t.policy(ctx, tenantID, defaults)
	if err != nil {
		return nil, err
	}
	return t.store.ListUsers(ctx, tenantID, after, limit, p, t.now())
}

// UserSessions lists the user's live sessions, newest first, with this node's latest
// activity. Sessions their policy has already ended are left out.
func (t *Tracker) UserSessions(ctx context.Context, tenantID, userID string, defaults *store.Policy) ([]store.Session, store.Policy, error) {
	p, _, err := t.policy(ctx, tenantID, defaults)
	if err != nil {
		return nil, p, err
	}
	list, err := t.store.ListUserSessions(ctx, tenantID, userID)
	if err != nil {
		return nil, p, err
	}
	now := t.now()
	live := list[:0]
	for _, s := range list {
		if local := t.localActivity(sessionKey(tenantID, s.ID)); local.After(s.LastActiveAt) {
			s.LastActiveAt = local
		}
		if p.EndReasonAt(s.CreatedAt, s.LastActiveAt, now) == "" {
			live = append(live, s)
		}
	}
	return live, p, nil
}

// Policy returns the tenant's effective policy and whether it is the tenant's own.
func (t *Tracker) Policy(ctx context.Context, tenantID string, defaults *store.Policy) (store.Policy, bool, error) {
	return t.policy(ctx, tenantID, defaults)
}

// SetPolicy stores the tenant's own policy.
func (t *Tracker) SetPolicy(ctx context.Context, tenantID string, p store.Policy) error {
	if err := t.store.PutPolicy(ctx, tenantID, p); err != nil {
		return err
	}
	t.policies.Invalidate(tenantID)
	return nil
}

// DeletePolicy removes the tenant's own policy; the default applies again.
func (t *Tracker) DeletePolicy(ctx context.Context, tenantID string) error {
	if err := t.store.DeletePolicy(ctx, tenantID); err != nil {
		return err
	}
	t.policies.Invalidate(tenantID)
	return nil
}

// Sweep ends live sessions their policy has ended and purges tombstones past retention.
// Without sweep defaults (no config loaded yet) it does nothing.
func (t *Tracker) Sweep(ctx context.Context) (ended, purged int, err error) {
	defaults := t.sweepDefaults.Load()
	if defaults == nil {
		return 0, 0, nil
	}
	// The store calls decide under its lock, where the store cannot be read: policies come
	// from the cache, and tenants missing from it are read after a pass and swept in a second
	// one with what was read (cache fills land asynchronously).
	loaded := map[string]*tenantPolicy{}
	for pass := 0; pass < 2; pass++ {
		e, p, missing, err := t.sweepPass(ctx, defaults, loaded)
		ended, purged = ended+e, purged+p
		if err != nil || len(missing) == 0 {
			return ended, purged, err
		}
		for tenantID := range missing {
			p, own, err := t.policy(ctx, tenantID, defaults)
			if err != nil {
				return ended, purged, fmt.Errorf("reading a tenant policy while sweeping: %w", err)
			}
			loaded[tenantID] = &tenantPolicy{p: p, own: own}
		}
	}
	return ended, purged, nil
}

func (t *Tracker) sweepPass(ctx context.Context, defaults *store.Policy, loaded map[string]*tenantPolicy) (ended, purged int, missing map[string]bool, err error) {
	now := t.now()
	var endedKeys []string
	ended, purged, err = t.store.Sweep(ctx, now, func(s *store.Session) (store.SweepAction, string) {
		tp, ok := loaded[s.TenantID]
		if !ok {
			tp, ok = t.policies.Get(s.TenantID)
		}
		if !ok {
			if missing == nil {
				missing = map[string]bool{}
			}
			missing[s.TenantID] = true
			return store.SweepKeep, ""
		}
		p := defaults
		if tp.own {
			p = &tp.p
		}
		if s.Ended() {
			retention := TombstoneRetention
			if p.ForceRelogin.Enabled {
				retention = max(retention, p.ForceRelogin.Duration)
			}
			if now.Sub(s.EndedAt) >= retention {
				return store.SweepPurge, ""
			}
			return store.SweepKeep, ""
		}
		last := s.LastActiveAt
		if local := t.localActivity(sessionKey(s.TenantID, s.ID)); local.After(last) {
			last = local
		}
		if reason := p.EndReasonAt(s.CreatedAt, last, now); reason != "" {
			endedKeys = append(endedKeys, sessionKey(s.TenantID, s.ID))
			return store.SweepEnd, reason
		}
		return store.SweepKeep, ""
	})
	if len(endedKeys) > 0 {
		t.sessions.Invalidate(endedKeys...)
	}
	return ended, purged, missing, err
}

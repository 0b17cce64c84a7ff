// Package store defines where sessiongate keeps its state: sessions (live and ended), the
// per-user sign-out cut-offs and the tenants' session policies. The implementations (memory,
// bolt, and later redis) live in sub-packages and all pass the conformance suite in storetest.
//
// A store does no caching and makes no decision beyond what must be atomic with a write: the
// creation of a session against the tenant's concurrent-session limit and the user's cut-off.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the asked-for session or policy does not exist.
// Any other error from a store means the store could not be reached or failed.
var ErrNotFound = errors.New("not found")

// Reasons a session ends; they double as the error codes the gateway answers with.
const (
	ReasonRevoked     = "session_revoked"
	ReasonEvicted     = "session_evicted"
	ReasonIdleTimeout = "session_idle_timeout"
	ReasonExpired     = "session_expired"
)

// Strategies for a creation over the concurrent-session limit.
const (
	StrategyEvictOldest = "evict_oldest"
	StrategyRejectNew   = "reject_new"
)

// RefusedLimit is CreateResult.Refused when reject_new refused the session.
const RefusedLimit = "session_limit_reached"

// Device is what the User-Agent says about the client.
type Device struct {
	Browser string `json:"browser"`
	OS      string `json:"os"`
	Type    string `json:"type"`
}

// Location is where the client IP is, when known.
type Location struct {
	Country string `json:"country"`
	City    string `json:"city"`
}

// Session is one user's session in one tenant, identified by (TenantID, ID).
type Session struct {
	TenantID     string    `json:"tenant_id"`
	UserID       string    `json:"user_id"`
	ID           string    `json:"id"`
	CreatedAt    time.Time `json:"created_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	IP           string    `json:"ip,omitempty"`
	UserAgent    string    `json:"user_agent,omitempty"`
	Device       Device    `json:"device"`
	Location     *Location `json:"location,omitempty"`
	// EndedAt and EndReason are zero while the session is live. Once set they never change.
	EndedAt   time.Time `json:"ended_at,omitempty"`
	EndReason string    `json:"end_reason,omitempty"`
}

// Ended reports whether the session has ended.
func (s *Session) Ended() bool { return s.EndReason != "" }

// Timeout is an optional duration in a policy. Duration is kept when disabled so that an admin
// who switches a timeout off and on again gets the old value back.
type Timeout struct {
	Enabled  bool          `json:"enabled"`
	Duration time.Duration `json:"duration"`
}

// SessionLimit is the optional cap on a user's concurrent sessions in a tenant.
type SessionLimit struct {
	Enabled  bool   `json:"enabled"`
	Max      int    `json:"max"`
	Strategy string `json:"strategy"` // StrategyEvictOldest or StrategyRejectNew
}

// Policy is a tenant's session policy.
type Policy struct {
	IdleTimeout  Timeout      `json:"idle_timeout"`
	ForceRelogin Timeout      `json:"force_relogin"`
	MaxSessions  SessionLimit `json:"max_sessions"`
}

// EndReasonAt returns why the policy ends a live session created at createdAt and last active
// at lastActive (the latest activity known, which may be newer than the stored LastActiveAt)
// at now, or "" when it may go on. Force re-login is checked before idleness; both end the
// session exactly at their limit.
func (p *Policy) EndReasonAt(createdAt, lastActive, now time.Time) string {
	if p.ForceRelogin.Enabled && now.Sub(createdAt) >= p.ForceRelogin.Duration {
		return ReasonExpired
	}
	if p.IdleTimeout.Enabled && now.Sub(lastActive) >= p.IdleTimeout.Duration {
		return ReasonIdleTimeout
	}
	return ""
}

// CreateRequest asks a store to create a session unless one exists under its id.
type CreateRequest struct {
	// Session is the new session; CreatedAt and LastActiveAt are normally Now.
	Session Session
	// Policy is the tenant's effective policy. Live sessions of the user that it has already
	// ended (idle, expired) are ended with that reason and do not count against MaxSessions.
	Policy Policy
	// IssuedAt is the token's iat (zero when the token has none). When the user has a cut-off
	// and IssuedAt is before it (or zero), the creation is refused with ReasonRevoked.
	IssuedAt time.Time
	Now      time.Time
}

// CreateResult says what Create did.
type CreateResult struct {
	// Session is the stored session under the requested id: the new one when Created, else the
	// one already there (live or ended). Zero when Refused.
	Session Session
	Created bool
	// Refused is ReasonRevoked (cut-off) or RefusedLimit (reject_new) when nothing was created.
	Refused string
	// Ended lists the sessions this call ended: evicted ones, and ones found idle or expired.
	Ended []Session
}

// EndUserRequest asks to end all of a user's live sessions.
type EndUserRequest struct {
	Reason string
	Now    time.Time
	// KeepID, when set, names a session that is left live.
	KeepID string
	// SetCutoff makes Now the user's cut-off: unseen session ids with an older iat are refused.
	// A later cut-off already in place is kept (a cut-off never moves back).
	SetCutoff bool
}

// Touch raises a session's last activity.
type Touch struct {
	TenantID string
	// UserID is the session's user, which a store may need to find the session: the redis
	// store on a single server keys its records by user.
	UserID string
	ID     string
	At     time.Time
}

// UserSummary is what a tenant's user listing shows of one user.
type UserSummary struct {
	UserID         string
	ActiveSessions int
	LastActiveAt   time.Time // the latest activity of the user's live sessions
}

// Add counts s in the summary when p has not ended it by now. Stores use it to build listings.
func (u *UserSummary) Add(s *Session, p *Policy, now time.Time) {
	if s.Ended() || p.EndReasonAt(s.CreatedAt, s.LastActiveAt, now) != "" {
		return
	}
	u.ActiveSessions++
	if s.LastActiveAt.After(u.LastActiveAt) {
		u.LastActiveAt = s.LastActiveAt
	}
}

// SweepAction is what Sweep does with one session.
type SweepAction int

const (
	// SweepKeep leaves the session as it is.
	SweepKeep SweepAction = iota
	// SweepEnd ends a live session (one its policy has ended) with the given reason, leaving
	// a tombstone so that its token cannot bring it back.
	SweepEnd
	// SweepPurge deletes an ended session's record (a tombstone past its retention).
	SweepPurge
)

// Store keeps sessions, cut-offs and policies. All methods are safe for concurrent use.
// Writes are durable when they return nil (for bolt: committed and fsynced).
type Store interface {
	// Get returns the session (live or ended), or ErrNotFound.
	Get(ctx context.Context, tenantID, id string) (Session, error)
	// Create creates req.Session atomically with the user's cut-off and the policy's session
	// limit: concurrent creations never leave more than MaxSessions.Max live sessions.
	Create(ctx context.Context, req CreateRequest) (CreateResult, error)
	// End ends a live session with reason at now and returns it. An already ended session is
	// returned unchanged (it keeps its first reason). Unknown: ErrNotFound.
	End(ctx context.Context, tenantID, id, reason string, now time.Time) (Session, error)
	// EndUser ends the user's live sessions (but req.KeepID) and returns those it ended.
	EndUser(ctx context.Context, tenantID, userID string, req EndUserRequest) ([]Session, error)
	// ListUserSessions returns the user's live sessions, newest (by CreatedAt) first.
	ListUserSessions(ctx context.Context, tenantID, userID string) ([]Session, error)
	// ListUsers returns up to limit users of the tenant that have live sessions, in user id
	// order, starting after the user id after ("" for the first page). Sessions p has ended
	// by now (idle, expired) do not count, and users left with none are skipped.
	ListUsers(ctx context.Context, tenantID, after string, limit int, p Policy, now time.Time) ([]UserSummary, error)
	// Touch raises LastActiveAt of each live session to At when At is later. Unknown and
	// ended sessions are skipped.
	Touch(ctx context.Context, touches []Touch) error
	// GetPolicy returns the tenant's own policy, or ErrNotFound when it has none.
	GetPolicy(ctx context.Context, tenantID string) (Policy, error)
	// PutPolicy sets the tenant's policy.
	PutPolicy(ctx context.Context, tenantID string, p Policy) error
	// DeletePolicy removes the tenant's policy; removing none is not an error.
	DeletePolicy(ctx context.Context, tenantID string) error
	// Sweep calls decide for every stored session (live and ended) and applies its answer
	// (SweepEnd on an ended session is ignored; SweepPurge removes the record and its index
	// entries). now is the EndedAt of sessions it ends. It returns how many it ended and purged.
	// decide may run inside the store's lock or transaction: it must not call the store.
	Sweep(ctx context.Context, now time.Time, decide func(*Session) (SweepAction, string)) (ended, purged int, err error)
	// Close releases the store.
	Close() error
}

// Change is a write made through one gateway node that the others must drop from their
// caches: ended sessions, or a tenant's policy.
type Change struct {
	TenantID   string
	SessionIDs []string // sessions that ended
	Policy     bool     // the tenant's policy was set or deleted
}

// Watcher is implemented by stores that several gateway nodes share (redis). Every write that
// ends a session or changes a policy is announced in the same round trip as the write itself.
type Watcher interface {
	// Watch delivers the changes made through any node (this one included) to changed, until
	// ctx is done. connected reports the state of the change feed: false as soon as it is
	// lost (changes may then be missed), true each time it is (re)established — after which
	// a node must drop everything it cached, since changes made meanwhile were not delivered.
	// Watch returns at once; delivery runs in the background.
	Watch(ctx context.Context, changed func(Change), connected func(bool))
}

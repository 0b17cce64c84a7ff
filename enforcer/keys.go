package enforcer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// errNoKeys means no key set could be loaded yet: an outage, not a bad token.
var errNoKeys = errors.New("signing keys unavailable")

// keyProvider hands jwx the keys that may verify a token. The algorithm a key accepts is
// derived from the key itself (its kty, curve and alg), never from the token's header alone,
// so "none" and HS/RS confusion cannot verify.
type keyProvider interface {
	jws.KeyProvider
	// ready fails with errNoKeys while no key set has ever been loaded.
	ready(ctx context.Context) error
	// keySet names the key set in use at now; it changes when a different set replaces it,
	// and a token verified under another set must be verified again. It also starts a
	// refresh that is due, so that a set is refreshed even while every token is cached.
	keySet(now time.Time) uint32
}

// hmacKeys verifies HS256/HS384/HS512 with one shared secret.
type hmacKeys struct{ secret []byte }

func (hmacKeys) ready(context.Context) error { return nil }

func (hmacKeys) keySet(time.Time) uint32 { return 0 } // the secret changes only with the config

func (h hmacKeys) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	switch alg := sig.ProtectedHeaders().Algorithm(); alg {
	case jwa.HS256, jwa.HS384, jwa.HS512:
		sink.Key(alg, h.secret)
		return nil
	default:
		return fmt.Errorf("algorithm %q not accepted for an HMAC secret", alg)
	}
}

// algorithmsFor lists the signature algorithms a JWK may verify.
func algorithmsFor(k jwk.Key) []jwa.SignatureAlgorithm {
	var byType []jwa.SignatureAlgorithm
	switch k.KeyType() {
	case jwa.RSA:
		byType = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}
	case jwa.EC:
		crv, _ := k.Get(jwk.ECDSACrvKey)
		switch crv {
		case jwa.P256:
			byType = []jwa.SignatureAlgorithm{jwa.ES256}
		case jwa.P384:
			byType = []jwa.SignatureAlgorithm{jwa.ES384}
		case jwa.P521:
			byType = []jwa.SignatureAlgorithm{jwa.ES512}
		}
	case jwa.OKP:
		byType = []jwa.SignatureAlgorithm{jwa.EdDSA}
	case jwa.OctetSeq:
		byType = []jwa.SignatureAlgorithm{jwa.HS256, jwa.HS384, jwa.HS512}
	}
	declared := k.Algorithm().String()
	if declared == "" {
		return byType
	}
	for _, a := range byType {
		if a.String() == declared {
			return []jwa.SignatureAlgorithm{a}
		}
	}
	return nil
}

// offerKeys gives sink every key of set that matches the token's kid and accepts its alg.
// It reports whether the kid was found at all.
func offerKeys(set jwk.Set, sink jws.KeySink, sig *jws.Signature) bool {
	hdr := sig.ProtectedHeaders()
	kid, alg := hdr.KeyID(), hdr.Algorithm()
	found := false
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if kid != "" && k.KeyID() != kid {
			continue
		}
		found = true
		if use := k.KeyUsage(); use != "" && use != "sig" {
			continue
		}
		for _, a := range algorithmsFor(k) {
			if a == alg {
				sink.Key(alg, k)
			}
		}
	}
	return found
}

// fileKeys verifies with a JWKS read once from a file.
type fileKeys struct{ set jwk.Set }

func loadJWKSFile(path string) (fileKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileKeys{}, fmt.Errorf("reading jwks_file: %w", err)
	}
	set, err := parseJWKS(data)
	if err != nil {
		return fileKeys{}, fmt.Errorf("jwks_file %s: %w", path, err)
	}
	return fileKeys{set: set}, nil
}

func parseJWKS(data []byte) (jwk.Set, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("JWKS has no keys")
	}
	return set, nil
}

func (fileKeys) ready(context.Context) error { return nil }

func (fileKeys) keySet(time.Time) uint32 { return 0 } // read once per config

func (f fileKeys) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	offerKeys(f.set, sink, sig)
	return nil
}

// urlKeys verifies with a JWKS fetched from a URL. The set is refreshed in the background every
// refreshEvery, and on a token whose kid it does not know at most once per minRefresh; when a
// fetch fails the last good set stays in use. Fetches run on their own context, one at a
// time, and never hold up tokens whose key is already known.
type urlKeys struct {
	url          string
	client       *http.Client
	now          func() time.Time
	minRefresh   time.Duration // between fetches once a set is loaded
	retryNoKeys  time.Duration // between fetches while none ever loaded
	refreshEvery time.Duration

	set       atomic.Pointer[jwk.Set] // the last good set
	loadedAt  atomic.Int64            // unix nanoseconds of the last good fetch
	attemptAt atomic.Int64            // unix nanoseconds of the last attempt, good or bad
	gen       atomic.Uint32           // bumped when a set different from the last replaces it
	lastDoc   []byte                  // the last good set's document; under mu

	mu     sync.Mutex
	flight chan struct{} // closed when the running fetch ends; nil when none runs
}

func newURLKeys(url string, now func() time.Time) *urlKeys {
	return &urlKeys{
		url:          url,
		client:       &http.Client{Timeout: fetchTimeout},
		now:          now,
		minRefresh:   10 * time.Second,
		retryNoKeys:  time.Second,
		refreshEvery: 15 * time.Minute,
	}
}

// fetchTimeout bounds one JWKS fetch.
const fetchTimeout = 10 * time.Second

// fetch returns the set at the URL and its document.
func (u *urlKeys) fetch(ctx context.Context) (jwk.Set, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading JWKS: %w", err)
	}
	set, err := parseJWKS(data)
	return set, data, err
}

// startFetch starts a fetch unless one is running or one ran too recently. It returns the
// running fetch's done channel, or nil when there is none.
func (u *urlKeys) startFetch() chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.flight != nil {
		return u.flight
	}
	wait := u.minRefresh
	if u.set.Load() == nil {
		wait = u.retryNoKeys
	}
	now := u.now().UnixNano()
	if last := u.attemptAt.Load(); last != 0 && now-last < int64(wait) {
		return nil
	}
	u.attemptAt.Store(now)
	u.flight = make(chan struct{})
	go u.fetchInto(u.flight)
	return u.flight
}

// fetchInto runs one fetch, keeping the set when it is good, and closes done.
func (u *urlKeys) fetchInto(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	set, doc, err := u.fetch(ctx)
	cancel()
	// The result and the end of the flight together: whoever sees the new set and then asks
	// for a fetch (startFetch, under the same lock) finds this one over.
	u.mu.Lock()
	if err == nil {
		// The set first: a token verified under the new name must have met the new set.
		u.set.Store(&set)
		if !bytes.Equal(doc, u.lastDoc) {
			u.lastDoc = doc
			u.gen.Add(1)
		}
		u.loadedAt.Store(u.now().UnixNano())
	}
	u.flight = nil
	u.mu.Unlock()
	close(done)
}

// current returns the key set, fetching it first when none was ever loaded (or when force is
// set, for an unknown kid). A set past refreshEvery is refreshed in the background.
func (u *urlKeys) current(ctx context.Context, force bool) (jwk.Set, error) {
	p := u.set.Load()
	if p == nil || force {
		if done := u.startFetch(); done != nil {
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
		if p = u.set.Load(); p == nil {
			return nil, errNoKeys
		}
		return *p, nil
	}
	u.refreshIfDue(u.now())
	return *p, nil
}

// refreshIfDue starts a background refresh of a set past refreshEvery (the set in hand is
// still good meanwhile). Without one due it takes no lock.
func (u *urlKeys) refreshIfDue(now time.Time) {
	t := now.UnixNano()
	if loaded := u.loadedAt.Load(); loaded != 0 && t-loaded >= int64(u.refreshEvery) && t-u.attemptAt.Load() >= int64(u.minRefresh) {
		u.startFetch()
	}
}

func (u *urlKeys) keySet(now time.Time) uint32 {
	u.refreshIfDue(now)
	return u.gen.Load()
}

func (u *urlKeys) ready(ctx context.Context) error {
	_, err := u.current(ctx, false)
	return err
}

func (u *urlKeys) FetchKeys(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	set, err := u.current(ctx, false)
	if err != nil {
		return err
	}
	if offerKeys(set, sink, sig) || sig.ProtectedHeaders().KeyID() == "" {
		return nil
	}
	set, err = u.current(ctx, true)
	if err != nil {
		return err
	}
	offerKeys(set, sink, sig)
	return nil
}

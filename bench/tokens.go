package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// benchSecret is the HMAC secret of the HS256 runs, of sessiongate and of authsvc.
const benchSecret = "sessiongate-bench-secret-0123456789-abcdefgh"

// tokenTTL outlives any run: no token expires while it is measured.
const tokenTTL = 24 * time.Hour

// signer signs the run's tokens and says how sessiongate and authsvc verify them.
type signer struct {
	alg      jwa.SignatureAlgorithm
	key      any      // []byte for HS256; the private jwk.Key, with its kid, for RS256
	gateKeys string   // the key material line of the sessiongate blocks
	authArgs []string // authsvc's flags for the same keys
	about    string   // the report's line on the tokens
}

// newSigner makes the keys of alg: HS256 uses benchSecret; RS256 a new 2048-bit RSA key,
// whose public half it writes as a JWKS into dir.
func newSigner(alg, dir string) (*signer, error) {
	switch alg {
	case "HS256":
		return &signer{
			alg: jwa.HS256, key: []byte(benchSecret),
			gateKeys: "hmac_secret " + benchSecret, authArgs: []string{"-secret", benchSecret},
			about: "HS256 with one shared secret: sessiongate's `hmac_secret`, authsvc's `-secret`",
		}, nil
	case "RS256":
		raw, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		priv, err := jwk.FromRaw(raw)
		if err != nil {
			return nil, err
		}
		if err := priv.Set(jwk.KeyIDKey, "bench"); err != nil {
			return nil, err
		}
		if err := priv.Set(jwk.AlgorithmKey, jwa.RS256); err != nil {
			return nil, err
		}
		pub, err := priv.PublicKey()
		if err != nil {
			return nil, err
		}
		set := jwk.NewSet()
		if err := set.AddKey(pub); err != nil {
			return nil, err
		}
		doc, err := json.Marshal(set)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "jwks.json")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			return nil, err
		}
		return &signer{
			alg: jwa.RS256, key: priv,
			gateKeys: "jwks_file " + path, authArgs: []string{"-jwks", path},
			about: "RS256 (2048-bit RSA, `kid` in the header), verified against a JWKS file: sessiongate's `jwks_file`, authsvc's `-jwks`",
		}, nil
	}
	return nil, fmt.Errorf("unknown -alg %q (want RS256 or HS256)", alg)
}

// mint is a token for user in tenant with session sid.
func (s *signer) mint(user, tenant, sid string, now time.Time) (string, error) {
	tok, err := jwt.NewBuilder().Subject(user).IssuedAt(now).Expiration(now.Add(tokenTTL)).
		Claim("tenantId", tenant).Claim("sid", sid).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.key))
	return string(signed), err
}

// The user, tenant and session of the single-session mode.
const (
	hotUser    = "hot-user"
	hotTenant  = "hot-tenant"
	hotSession = "hot"
)

// hotToken is the one token of the single-session mode.
func (s *signer) hotToken(now time.Time) (string, error) {
	return s.mint(hotUser, hotTenant, hotSession, now)
}

// manyTokens are n tokens of n distinct sessions: one session per user, users spread over 16
// tenants. They are signed on every CPU: an RSA signature takes about a millisecond.
func (s *signer) manyTokens(n int, now time.Time) ([]string, error) {
	out := make([]string, n)
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				var err error
				if out[i], err = s.mint(fmt.Sprintf("u%d", i), fmt.Sprintf("t%d", i%16), fmt.Sprintf("s%d", i), now); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeLines writes one token a line.
func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

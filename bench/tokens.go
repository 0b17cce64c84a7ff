package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// benchSecret is the HMAC secret of every token, of sessiongate and of authsvc.
const benchSecret = "sessiongate-bench-secret-0123456789-abcdefgh"

// tokenTTL outlives any run: no token expires while it is measured.
const tokenTTL = 24 * time.Hour

// mint is an HS256 token for user in tenant with session sid.
func mint(user, tenant, sid string, now time.Time) (string, error) {
	tok, err := jwt.NewBuilder().Subject(user).IssuedAt(now).Expiration(now.Add(tokenTTL)).
		Claim("tenantId", tenant).Claim("sid", sid).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(benchSecret)))
	return string(signed), err
}

// hotToken is the one token of the single-session mode.
func hotToken(now time.Time) (string, error) { return mint("hot-user", "hot-tenant", "hot", now) }

// manyTokens are n tokens of n distinct sessions: one session per user, users spread over 16
// tenants.
func manyTokens(n int, now time.Time) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		var err error
		if out[i], err = mint(fmt.Sprintf("u%d", i), fmt.Sprintf("t%d", i%16), fmt.Sprintf("s%d", i), now); err != nil {
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

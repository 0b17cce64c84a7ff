package enforcer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/sessiongate/sessiongate/store"
	"github.com/sessiongate/sessiongate/store/memory"
)

const testLeeway = 30 * time.Second

// tokenCase is a token made at the clock's now and the code Check must answer.
type tokenCase struct {
	name string
	make func(now time.Time) string
	want string
}

func runTokenCases(t *testing.T, e *env, cases []tokenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.make(e.clk.Now())
			v := e.enf.Check(context.Background(), tok, testInfo)
			if v.Code != tc.want {
				t.Fatalf("code %q (err %v), want %q", v.Code, v.Err, tc.want)
			}
			if tc.want == "" && v.Claims == nil {
				t.Fatal("allowed without claims")
			}
			if (tc.want == CodeInvalidToken || tc.want == CodeTokenExpired) && v.Err == nil {
				t.Error("a refused token carries no error for the logs")
			}
			if sig := tok[strings.LastIndexByte(tok, '.')+1:]; v.Err != nil && len(sig) >= 8 && strings.Contains(v.Err.Error(), sig) {
				t.Errorf("error %q echoes the token's signature", v.Err)
			}
		})
	}
}

// claimCases are the claim checks, independent of how tokens are signed. Every case names its
// own session so that cases do not interact.
func claimCases(signer func(map[string]any) string) []tokenCase {
	var cases []tokenCase
	add := func(name, want string, mod func(c map[string]any, now time.Time)) {
		sid := "s-" + strings.NewReplacer(" ", "_", "/", "_").Replace(name)
		if len(sid) > 200 {
			sid = sid[:200]
		}
		cases = append(cases, tokenCase{name: name, want: want, make: func(now time.Time) string {
			c := claimsAt(now, "u1", "t1", sid)
			mod(c, now)
			return signer(c)
		}})
	}
	at := func(claim string, d time.Duration) func(map[string]any, time.Time) {
		return func(c map[string]any, now time.Time) { c[claim] = now.Add(d).Unix() }
	}
	set := func(claim string, v any) func(map[string]any, time.Time) {
		return func(c map[string]any, _ time.Time) { c[claim] = v }
	}
	del := func(claim string) func(map[string]any, time.Time) {
		return func(c map[string]any, _ time.Time) { delete(c, claim) }
	}

	add("valid", "", func(map[string]any, time.Time) {})
	add("exp past beyond leeway", CodeTokenExpired, at("exp", -testLeeway-time.Second))
	add("exp past exactly leeway", CodeTokenExpired, at("exp", -testLeeway))
	add("exp past within leeway", "", at("exp", -testLeeway+time.Second))
	add("exp now", "", at("exp", 0))
	add("no exp", CodeInvalidToken, del("exp"))
	add("exp not a number", CodeInvalidToken, set("exp", "tomorrow"))
	add("nbf future beyond leeway", CodeInvalidToken, at("nbf", testLeeway+time.Second))
	add("nbf future at leeway", "", at("nbf", testLeeway))
	add("nbf future within leeway", "", at("nbf", testLeeway-time.Second))
	add("nbf past", "", at("nbf", -time.Hour))
	add("iat future beyond leeway", CodeInvalidToken, at("iat", testLeeway+time.Second))
	add("iat future within leeway", "", at("iat", testLeeway-time.Second))
	add("no iat", "", del("iat"))

	for _, claim := range []string{"sub", "tenantId", "sid"} {
		for _, bad := range []struct {
			name string
			val  any
		}{
			{"empty", ""}, {"number", 42}, {"array", []string{"a"}}, {"object", map[string]any{"a": "b"}},
			{"null", nil}, {"bool", true}, {"slash", "a/b"}, {"space", "a b"}, {"300 chars", strings.Repeat("a", 300)},
			{"257 chars", strings.Repeat("a", 257)}, {"nul", "a\x00b"}, {"newline", "a\nb"}, {"non-ascii", "ü"},
			{"percent", "a%2Fb"}, {"backslash", `a\b`}, {"dotdot slash", "../x"},
		} {
			add(claim+" "+bad.name, CodeInvalidToken, set(claim, bad.val))
		}
		add(claim+" missing", CodeInvalidToken, del(claim))
	}
	add("ids with allowed punctuation", "", func(c map[string]any, _ time.Time) {
		c["sub"], c["tenantId"] = "user@example.com", "a.b_c~d:e@f+g=h|i-j"
	})
	add("id of 256 chars", "", set("sub", strings.Repeat("u", 256)))

	add("permissions strings", "", set("permissions", []string{"fe.secure.read.sessions", "x"}))
	add("permissions empty array", "", set("permissions", []string{}))
	add("permissions a string", CodeInvalidToken, set("permissions", "fe.secure.read.sessions"))
	add("permissions numbers", CodeInvalidToken, set("permissions", []int{1, 2}))
	add("permissions mixed", CodeInvalidToken, set("permissions", []any{"a", 1}))
	add("permissions with null", CodeInvalidToken, set("permissions", []any{"a", nil}))
	add("permissions nested array", CodeInvalidToken, set("permissions", []any{[]string{"a"}}))
	add("permissions object", CodeInvalidToken, set("permissions", map[string]bool{"a": true}))
	return cases
}

func TestTokenClaimsHMAC(t *testing.T) {
	e := newEnv(t, Config{HMACSecret: testSecret, Leeway: testLeeway}, TrackerConfig{})
	runTokenCases(t, e, claimCases(func(c map[string]any) string { return hs256(t, c) }))
}

func TestTokenClaimsJWKSFile(t *testing.T) {
	rk, _, ek := testKeys(t)
	e := newEnv(t, Config{JWKSFile: writeJWKS(t), Leeway: testLeeway}, TrackerConfig{})
	t.Run("RS256", func(t *testing.T) {
		runTokenCases(t, e, claimCases(func(c map[string]any) string { return sign(t, jwa.RS256, rk, "rsa1", c) }))
	})
	t.Run("ES256", func(t *testing.T) {
		runTokenCases(t, e, claimCases(func(c map[string]any) string { return sign(t, jwa.ES256, ek, "ec1", c) }))
	})
}

// hmacSig signs header.payload with HS256 and secret, by hand.
func hmacSig(signingInput string, secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signingInput))
	return m.Sum(nil)
}

func TestTokenShapeHMAC(t *testing.T) {
	e := newEnv(t, Config{HMACSecret: testSecret, Leeway: testLeeway}, TrackerConfig{})
	rk, _, _ := testKeys(t)
	valid := func(sid string) func(time.Time) string {
		return func(now time.Time) string { return hs256(t, claimsAt(now, "u1", "t1", sid)) }
	}
	padded := func(sid string, pad int) func(time.Time) string {
		return func(now time.Time) string {
			c := claimsAt(now, "u1", "t1", sid)
			c["pad"] = strings.Repeat("x", pad)
			return hs256(t, c)
		}
	}
	runTokenCases(t, e, []tokenCase{
		{"missing", func(time.Time) string { return "" }, CodeMissingToken},
		{"valid", valid("s1"), ""},
		{"HS384", func(now time.Time) string {
			return sign(t, jwa.HS384, []byte(testSecret), "", claimsAt(now, "u1", "t1", "s384"))
		}, ""},
		{"HS512", func(now time.Time) string {
			return sign(t, jwa.HS512, []byte(testSecret), "", claimsAt(now, "u1", "t1", "s512"))
		}, ""},
		{"built with jwt.Sign", func(now time.Time) string {
			return jwtToken(t, jwa.HS256, []byte(testSecret), "", now, "u1", "t1", "sjwt")
		}, ""},
		{"kid is ignored with a secret", func(now time.Time) string {
			return sign(t, jwa.HS256, []byte(testSecret), "../../etc/passwd", claimsAt(now, "u1", "t1", "skid"))
		}, ""},
		{"other secret", func(now time.Time) string {
			return sign(t, jwa.HS256, []byte(strings.Repeat("z", 40)), "", claimsAt(now, "u1", "t1", "s2"))
		}, CodeInvalidToken},
		{"RS256 against a secret", func(now time.Time) string {
			return sign(t, jwa.RS256, rk, "", claimsAt(now, "u1", "t1", "s3"))
		}, CodeInvalidToken},
		{"alg none", func(now time.Time) string {
			return rawToken(map[string]any{"alg": "none", "typ": "JWT"}, claimsAt(now, "u1", "t1", "s4"), nil)
		}, CodeInvalidToken},
		{"alg none with a signature", func(now time.Time) string {
			h, c := map[string]any{"alg": "none"}, claimsAt(now, "u1", "t1", "s4")
			return rawToken(h, c, hmacSig(b64(h)+"."+b64(c), []byte(testSecret)))
		}, CodeInvalidToken},
		{"alg None", func(now time.Time) string {
			h, c := map[string]any{"alg": "None"}, claimsAt(now, "u1", "t1", "s4")
			return rawToken(h, c, hmacSig(b64(h)+"."+b64(c), []byte(testSecret)))
		}, CodeInvalidToken},
		{"no alg", func(now time.Time) string {
			h, c := map[string]any{"typ": "JWT"}, claimsAt(now, "u1", "t1", "s4")
			return rawToken(h, c, hmacSig(b64(h)+"."+b64(c), []byte(testSecret)))
		}, CodeInvalidToken},
		{"hand-made HS256 control", func(now time.Time) string {
			h, c := map[string]any{"alg": "HS256"}, claimsAt(now, "u1", "t1", "s5")
			return rawToken(h, c, hmacSig(b64(h)+"."+b64(c), []byte(testSecret)))
		}, ""},
		{"payload swapped", func(now time.Time) string {
			good := strings.Split(hs256(t, claimsAt(now, "u1", "t1", "s6")), ".")
			other := strings.Split(hs256(t, claimsAt(now, "admin", "t1", "s6")), ".")
			return good[0] + "." + other[1] + "." + good[2]
		}, CodeInvalidToken},
		{"signature stripped", func(now time.Time) string {
			tok := hs256(t, claimsAt(now, "u1", "t1", "s7"))
			return tok[:strings.LastIndexByte(tok, '.')+1]
		}, CodeInvalidToken},
		{"tampered signature", func(now time.Time) string {
			return tamper(hs256(t, claimsAt(now, "u1", "t1", "s8")))
		}, CodeInvalidToken},
		{"2 segments", func(now time.Time) string {
			tok := hs256(t, claimsAt(now, "u1", "t1", "s9"))
			return tok[:strings.LastIndexByte(tok, '.')]
		}, CodeInvalidToken},
		{"4 segments", func(now time.Time) string { return hs256(t, claimsAt(now, "u1", "t1", "s9")) + ".x" }, CodeInvalidToken},
		{"5 segments", func(now time.Time) string { return hs256(t, claimsAt(now, "u1", "t1", "s9")) + ".x.y" }, CodeInvalidToken},
		{"5 empty segments", func(time.Time) string { return "...." }, CodeInvalidToken},
		{"3 empty segments", func(time.Time) string { return ".." }, CodeInvalidToken},
		{"garbage", func(time.Time) string { return "not a token at all" }, CodeInvalidToken},
		{"JSON serialisation", func(now time.Time) string {
			tok := strings.Split(hs256(t, claimsAt(now, "u1", "t1", "s10")), ".")
			// Two dots, so that it passes a segment count: only compact tokens are JWTs.
			return fmt.Sprintf(`{"payload":%q,"protected":%q,"header":{"note":"a.b.c"},"signature":%q}`, tok[1], tok[0], tok[2])
		}, CodeInvalidToken},
		{"just under MaxTokenBytes", padded("s11", MaxTokenBytes/4*3-400), ""},
		{"over MaxTokenBytes", padded("s12", MaxTokenBytes/4*3+10), CodeInvalidToken},
	})

	// The size cases are on the right side of the limit.
	under, over := padded("x", MaxTokenBytes/4*3-400)(e.clk.Now()), padded("x", MaxTokenBytes/4*3+10)(e.clk.Now())
	if len(under) > MaxTokenBytes || len(over) <= MaxTokenBytes {
		t.Fatalf("size cases are %d and %d bytes, want <= and > %d", len(under), len(over), MaxTokenBytes)
	}
}

func TestTokenJWKSFile(t *testing.T) {
	rk, rk2, ek := testKeys(t)
	path := writeJWKS(t)
	e := newEnv(t, Config{JWKSFile: path, Leeway: testLeeway}, TrackerConfig{})

	pkix, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	must(t, err)
	pkcs1 := x509.MarshalPKCS1PublicKey(&rk.PublicKey)
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})
	ecDER, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	must(t, err)
	jwksBytes, err := os.ReadFile(path)
	must(t, err)

	n := 0
	signed := func(alg jwa.SignatureAlgorithm, key any, kid string) func(time.Time) string {
		n++
		sid := fmt.Sprintf("s%d", n)
		return func(now time.Time) string { return sign(t, alg, key, kid, claimsAt(now, "u1", "t1", sid)) }
	}
	cases := []tokenCase{
		{"RS256", signed(jwa.RS256, rk, "rsa1"), ""},
		{"RS384", signed(jwa.RS384, rk, "rsa1"), ""},
		{"RS512", signed(jwa.RS512, rk, "rsa1"), ""},
		{"PS256", signed(jwa.PS256, rk, "rsa1"), ""},
		{"RS256 without kid", signed(jwa.RS256, rk, ""), ""},
		{"ES256", signed(jwa.ES256, ek, "ec1"), ""},
		{"ES256 without kid", signed(jwa.ES256, ek, ""), ""},
		{"RS256 built with jwt.Sign", func(now time.Time) string {
			return jwtToken(t, jwa.RS256, rk, "rsa1", now, "u1", "t1", "sjwt")
		}, ""},
		{"RS256 by another key", signed(jwa.RS256, rk2, "rsa1"), CodeInvalidToken},
		{"RS256 by another key without kid", signed(jwa.RS256, rk2, ""), CodeInvalidToken},
		{"RS256 naming the EC key", signed(jwa.RS256, rk, "ec1"), CodeInvalidToken},
		{"ES256 naming the RSA key", signed(jwa.ES256, ek, "rsa1"), CodeInvalidToken},
		{"unknown kid", signed(jwa.RS256, rk, "nope"), CodeInvalidToken},
		{"kid path traversal", signed(jwa.RS256, rk, "../../etc/passwd"), CodeInvalidToken},
		{"kid path traversal with key file", signed(jwa.HS256, jwksBytes, "../../../../../.."+path), CodeInvalidToken},
		{"kid absolute path", signed(jwa.RS256, rk, "/etc/passwd"), CodeInvalidToken},
		{"HS256 with the RSA key as PKIX PEM", signed(jwa.HS256, pemPKIX, "rsa1"), CodeInvalidToken},
		{"HS256 with the RSA key as PKIX PEM, no kid", signed(jwa.HS256, pemPKIX, ""), CodeInvalidToken},
		{"HS256 with the RSA key as PKCS1 PEM", signed(jwa.HS256, pemPKCS1, "rsa1"), CodeInvalidToken},
		{"HS256 with the RSA key as PKIX DER", signed(jwa.HS256, pkix, "rsa1"), CodeInvalidToken},
		{"HS256 with the RSA key as PKCS1 DER", signed(jwa.HS256, pkcs1, "rsa1"), CodeInvalidToken},
		{"HS256 with the RSA key as PKCS1 DER, no kid", signed(jwa.HS256, pkcs1, ""), CodeInvalidToken},
		{"HS256 with the EC key as DER", signed(jwa.HS256, ecDER, "ec1"), CodeInvalidToken},
		{"HS256 with the JWKS document", signed(jwa.HS256, jwksBytes, ""), CodeInvalidToken},
		{"alg none naming the RSA key", func(now time.Time) string {
			return rawToken(map[string]any{"alg": "none", "kid": "rsa1"}, claimsAt(now, "u1", "t1", "snone"), nil)
		}, CodeInvalidToken},
		{"tampered RS256", func(now time.Time) string {
			return tamper(sign(t, jwa.RS256, rk, "rsa1", claimsAt(now, "u1", "t1", "stamper")))
		}, CodeInvalidToken},
	}
	runTokenCases(t, e, cases)
}

// A key marked for encryption, or declared for another algorithm, verifies nothing.
func TestTokenJWKSKeyRestrictions(t *testing.T) {
	rk, _, ek := testKeys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	must(t, os.WriteFile(path, jwksJSON(t,
		publicJWK(t, rk, "enc", "", "enc"),
		publicJWK(t, rk, "rs256only", "RS256", ""),
		publicJWK(t, ek, "ec", "", ""),
	), 0o600))
	e := newEnv(t, Config{JWKSFile: path}, TrackerConfig{})
	signed := func(alg jwa.SignatureAlgorithm, key any, kid, sid string) func(time.Time) string {
		return func(now time.Time) string { return sign(t, alg, key, kid, claimsAt(now, "u1", "t1", sid)) }
	}
	runTokenCases(t, e, []tokenCase{
		{"use enc", signed(jwa.RS256, rk, "enc", "s1"), CodeInvalidToken},
		{"declared RS256, signed RS256", signed(jwa.RS256, rk, "rs256only", "s2"), ""},
		{"declared RS256, signed PS256", signed(jwa.PS256, rk, "rs256only", "s3"), CodeInvalidToken},
		{"declared RS256, signed RS512", signed(jwa.RS512, rk, "rs256only", "s4"), CodeInvalidToken},
		{"EC without alg, ES256", signed(jwa.ES256, ek, "ec", "s5"), ""},
	})
}

func TestTokenIssuerAudience(t *testing.T) {
	const iss, aud = "https://idp.example.com", "gateway"
	e := newEnv(t, Config{HMACSecret: testSecret, Issuer: iss, Audience: aud}, TrackerConfig{})
	n := 0
	with := func(mod func(map[string]any)) func(time.Time) string {
		n++
		sid := fmt.Sprintf("s%d", n)
		return func(now time.Time) string {
			c := claimsAt(now, "u1", "t1", sid)
			c["iss"], c["aud"] = iss, aud
			mod(c)
			return hs256(t, c)
		}
	}
	runTokenCases(t, e, []tokenCase{
		{"both match", with(func(map[string]any) {}), ""},
		{"aud array containing", with(func(c map[string]any) { c["aud"] = []string{"other", aud} }), ""},
		{"no iss", with(func(c map[string]any) { delete(c, "iss") }), CodeInvalidToken},
		{"other iss", with(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), CodeInvalidToken},
		{"iss differs in case", with(func(c map[string]any) { c["iss"] = strings.ToUpper(iss) }), CodeInvalidToken},
		{"iss with trailing slash", with(func(c map[string]any) { c["iss"] = iss + "/" }), CodeInvalidToken},
		{"no aud", with(func(c map[string]any) { delete(c, "aud") }), CodeInvalidToken},
		{"other aud", with(func(c map[string]any) { c["aud"] = "other" }), CodeInvalidToken},
		{"aud array without", with(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), CodeInvalidToken},
		{"aud empty array", with(func(c map[string]any) { c["aud"] = []string{} }), CodeInvalidToken},
	})

	// Without Issuer and Audience configured, neither is required.
	open := newEnv(t, Config{HMACSecret: testSecret}, TrackerConfig{})
	open.expect(open.token("u1", "t1", "s1", func(c map[string]any) { c["iss"], c["aud"] = "any", "thing" }), "")
	open.expect(open.token("u1", "t1", "s2"), "")
}

func TestCustomClaimNames(t *testing.T) {
	e := newEnv(t, Config{HMACSecret: testSecret, Claims: ClaimNames{
		User: "uid", Tenant: "org", Session: "session_id", Permissions: "roles",
	}}, TrackerConfig{})
	custom := func(sid string, mod func(map[string]any)) string {
		now := e.clk.Now()
		c := map[string]any{
			"uid": "alice", "org": "acme", "session_id": sid, "roles": []string{"r1", "r2"},
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			// The default names say something else: they must be ignored.
			"sub": "mallory", "tenantId": "evil", "sid": "other", "permissions": 7,
		}
		if mod != nil {
			mod(c)
		}
		return hs256(t, c)
	}
	v := e.expect(custom("s1", nil), "")
	c := v.Claims
	if c.UserID != "alice" || c.TenantID != "acme" || c.SessionID != "s1" || !slices.Equal(c.Permissions, []string{"r1", "r2"}) {
		t.Fatalf("claims %+v", c)
	}
	if c.SessionKey() != sessionKey("acme", "s1") {
		t.Errorf("session key %q", c.SessionKey())
	}
	if !c.IssuedAt().Equal(e.clk.Now()) || !c.Expiry().Equal(e.clk.Now().Add(time.Hour)) {
		t.Errorf("iat %s exp %s", c.IssuedAt(), c.Expiry())
	}
	if _, err := e.get("acme", "s1"); err != nil {
		t.Errorf("session not stored under the custom claims: %v", err)
	}

	for name, mod := range map[string]func(map[string]any){
		"custom user missing":     func(c map[string]any) { delete(c, "uid") },
		"custom tenant missing":   func(c map[string]any) { delete(c, "org") },
		"custom session missing":  func(c map[string]any) { delete(c, "session_id") },
		"custom session a number": func(c map[string]any) { c["session_id"] = 5 },
		"custom roles a string":   func(c map[string]any) { c["roles"] = "r1" },
	} {
		t.Run(name, func(t *testing.T) { e.expect(custom("s2", mod), CodeInvalidToken) })
	}
	// A token with only the default names does not identify anyone.
	e.expect(e.token("u1", "t1", "s3"), CodeInvalidToken)
}

func TestClaimsFromVerdict(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	v := e.expect(e.token("u1", "t1", "s1", func(c map[string]any) { c["permissions"] = []string{"a", "b"} }), "")
	got := v.Claims
	if got.UserID != "u1" || got.TenantID != "t1" || got.SessionID != "s1" || !slices.Equal(got.Permissions, []string{"a", "b"}) ||
		!got.IssuedAt().Equal(e.clk.Now()) || !got.Expiry().Equal(e.clk.Now().Add(time.Hour)) {
		t.Fatalf("claims %+v (iat %s, exp %s)", got, got.IssuedAt(), got.Expiry())
	}
	// A refused request still says who it was, when the token was good.
	must(t, e.tr.EndSession(context.Background(), "t1", "s1"))
	v = e.expect(e.token("u1", "t1", "s1"), CodeSessionRevoked)
	if v.Claims == nil || v.Claims.UserID != "u1" {
		t.Errorf("revoked verdict claims %+v", v.Claims)
	}
	if v = e.check("garbage.garbage.garbage"); v.Claims != nil {
		t.Errorf("invalid token verdict has claims %+v", v.Claims)
	}
}

// A verified token is cached, but the cache never outlives the token's exp.
func TestCachedTokenExpires(t *testing.T) {
	e := newEnv(t, Config{Leeway: testLeeway}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", func(c map[string]any) { c["exp"] = e.clk.Now().Add(time.Minute).Unix() })
	v1 := e.expect(tok, "")
	e.settle()
	if !e.tokenCached(tok) {
		t.Fatal("a verified token is not cached")
	}
	e.clk.Advance(time.Minute + testLeeway - time.Nanosecond)
	v2 := e.expect(tok, "")
	if v1.Claims != v2.Claims {
		t.Error("the second check did not use the cached claims")
	}
	e.clk.Advance(time.Nanosecond)
	e.expect(tok, CodeTokenExpired)
	e.clk.Advance(10 * time.Minute)
	e.expect(tok, CodeTokenExpired)
	// The session itself is fine: a fresh token for it passes.
	e.expect(e.token("u1", "t1", "s1"), "")
}

// A token that was cached as valid does not make a tampered copy valid.
func TestCachedTokenTampered(t *testing.T) {
	rk, _, _ := testKeys(t)
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
		mint func(e *env) string
	}{
		{"HS256", func(*testing.T) Config { return Config{HMACSecret: testSecret} }, func(e *env) string { return e.token("u1", "t1", "s1") }},
		{"RS256", func(t *testing.T) Config { return Config{JWKSFile: writeJWKS(t)} }, func(e *env) string {
			return sign(t, jwa.RS256, rk, "rsa1", claimsAt(e.clk.Now(), "u1", "t1", "s1"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg(t), TrackerConfig{})
			tok := tc.mint(e)
			e.expect(tok, "")
			e.settle()
			if !e.tokenCached(tok) {
				t.Fatal("token not cached")
			}
			bad := tamper(tok)
			if bad == tok {
				t.Fatal("tamper changed nothing")
			}
			e.expect(bad, CodeInvalidToken)
			e.expect(tok+"A", CodeInvalidToken)
			parts := strings.Split(tok, ".")
			e.expect(parts[0]+"."+parts[1]+"."+parts[2][:len(parts[2])-4], CodeInvalidToken)
			e.expect(tok, "")
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	must(t, os.WriteFile(empty, []byte(`{"keys":[]}`), 0o600))
	garbage := filepath.Join(dir, "garbage.json")
	must(t, os.WriteFile(garbage, []byte(`not json`), 0o600))
	good := writeJWKS(t)
	badPolicy := testPolicy()
	badPolicy.MaxSessions = limit(0, store.StrategyRejectNew)

	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string // "" = no error
	}{
		{"secret", Config{HMACSecret: testSecret, DefaultPolicy: testPolicy()}, ""},
		{"file", Config{JWKSFile: good, DefaultPolicy: testPolicy()}, ""},
		{"url (not fetched yet)", Config{JWKSURL: "http://127.0.0.1:1/jwks", DefaultPolicy: testPolicy()}, ""},
		{"no keys", Config{DefaultPolicy: testPolicy()}, "exactly one"},
		{"secret and file", Config{HMACSecret: testSecret, JWKSFile: good, DefaultPolicy: testPolicy()}, "exactly one"},
		{"file and url", Config{JWKSFile: good, JWKSURL: "http://x", DefaultPolicy: testPolicy()}, "exactly one"},
		{"missing file", Config{JWKSFile: filepath.Join(dir, "nope.json"), DefaultPolicy: testPolicy()}, "jwks_file"},
		{"empty set", Config{JWKSFile: empty, DefaultPolicy: testPolicy()}, "no keys"},
		{"garbage file", Config{JWKSFile: garbage, DefaultPolicy: testPolicy()}, "jwks_file"},
		{"negative leeway", Config{HMACSecret: testSecret, Leeway: -time.Second, DefaultPolicy: testPolicy()}, "leeway"},
		{"bad default policy", Config{HMACSecret: testSecret, DefaultPolicy: badPolicy}, "max_sessions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, memory.New(), newFakeClock(), TrackerConfig{})
			enf, err := New(tc.cfg, tr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				enf.Close()
				return
			}
			if err == nil {
				enf.Close()
				t.Fatalf("New accepted the config, want an error about %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
			if tc.name == "bad default policy" {
				var pe *PolicyError
				if !errors.As(err, &pe) || pe.Field != "max_sessions" {
					t.Errorf("error %v is not a PolicyError on max_sessions", err)
				}
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"a", true}, {"user-1", true}, {"A.b_c~d:e@f+g=h|i-j", true}, {strings.Repeat("x", 256), true},
		{"", false}, {strings.Repeat("x", 257), false}, {"a/b", false}, {"a b", false}, {"a\x00", false},
		{"a,b", false}, {"a;b", false}, {"a\"b", false}, {"a\rb", false}, {"é", false}, {"a?b", false}, {"a#b", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// A cached token is trusted until its exp while its key set stays the same (an HMAC secret
// or a jwks_file change only with the config): it is not verified again meanwhile.
func TestCachedTokenTrustedUntilExpiry(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	tok := e.token("u1", "t1", "s1", longLived)
	v1 := e.expect(tok, "")
	e.settle()
	for range 20 {
		e.clk.Advance(30 * time.Minute)
		if v := e.expect(tok, ""); v.Claims != v1.Claims {
			t.Fatal("a cached token was verified again while its key set stayed the same")
		}
	}
}

// Tokens with the same permission list share one copy of it; other lists are kept apart,
// including lists that would join to the same string.
func TestPermissionListsShared(t *testing.T) {
	e := newEnv(t, Config{}, TrackerConfig{})
	perms := func(list ...string) func(map[string]any) {
		return func(c map[string]any) { c["permissions"] = list }
	}
	a := e.expect(e.token("u1", "t1", "s1", perms("read", "write")), "").Claims
	b := e.expect(e.token("u2", "t1", "s2", perms("read", "write")), "").Claims
	c := e.expect(e.token("u3", "t1", "s3", perms("read")), "").Claims
	d := e.expect(e.token("u4", "t1", "s4", perms("read\x00write")), "").Claims
	if &a.Permissions[0] != &b.Permissions[0] {
		t.Error("two tokens with the same permissions hold two copies")
	}
	if !slices.Equal(c.Permissions, []string{"read"}) || !slices.Equal(d.Permissions, []string{"read\x00write"}) ||
		!slices.Equal(b.Permissions, []string{"read", "write"}) {
		t.Errorf("permissions mixed up: %q %q %q", b.Permissions, c.Permissions, d.Permissions)
	}
}

// The claims' ids and session key are right whatever their lengths.
func TestClaimsIDs(t *testing.T) {
	var c Claims
	c.setIDs("tenant-1", "s", "user.long.id")
	if c.TenantID != "tenant-1" || c.SessionID != "s" || c.UserID != "user.long.id" || c.SessionKey() != sessionKey("tenant-1", "s") {
		t.Errorf("ids %q %q %q key %q", c.TenantID, c.SessionID, c.UserID, c.SessionKey())
	}
}

package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/spf13/cobra"

	"github.com/sessiongate/sessiongate/enforcer"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sessiongate",
		Short: "Tools for the sessiongate session gateway",
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(tokenCommand())
		},
	})
}

// tokenCommand is `caddy sessiongate token`: a signed HS256 token for development and demos.
func tokenCommand() *cobra.Command {
	var (
		secret, sub, tenant, sid, iss, aud string
		ttl                                time.Duration
		perms                              []string
	)
	cmd := &cobra.Command{
		Use:   "token --sub <user> --tenant <tenant> --sid <session> [--secret <secret>] [--ttl 1h] [--perm <permission>]...",
		Short: "Prints a signed HS256 token for development",
		Long: `Prints an HS256 JWT signed with the given secret (default: $SESSIONGATE_SECRET), for
trying the gateway with curl against a site configured with the same hmac_secret.
Not for production: real tokens come from your identity provider.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("SESSIONGATE_SECRET")
			}
			if secret == "" {
				return errors.New("--secret is required (or set SESSIONGATE_SECRET)")
			}
			for name, v := range map[string]string{"sub": sub, "tenant": tenant, "sid": sid} {
				if !enforcer.ValidID(v) {
					return fmt.Errorf("--%s: %q must be 1 to 256 letters, digits or . _ ~ : @ + = | -", name, v)
				}
			}
			if ttl <= 0 {
				return errors.New("--ttl must be positive")
			}
			now := time.Now()
			b := jwt.NewBuilder().Subject(sub).IssuedAt(now).Expiration(now.Add(ttl)).
				Claim("tenantId", tenant).Claim("sid", sid)
			if iss != "" {
				b = b.Issuer(iss)
			}
			if aud != "" {
				b = b.Audience([]string{aud})
			}
			if len(perms) > 0 {
				b = b.Claim("permissions", perms)
			}
			tok, err := b.Build()
			if err != nil {
				return err
			}
			signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(secret)))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(signed))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&secret, "secret", "", "HMAC secret (default: $SESSIONGATE_SECRET)")
	f.StringVar(&sub, "sub", "", "user id (sub)")
	f.StringVar(&tenant, "tenant", "", "tenant id (tenantId)")
	f.StringVar(&sid, "sid", "", "session id (sid)")
	f.StringVar(&iss, "iss", "", "issuer (iss), optional")
	f.StringVar(&aud, "aud", "", "audience (aud), optional")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	f.StringArrayVar(&perms, "perm", nil, "permission; repeat for several")
	return cmd
}

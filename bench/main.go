// Command bench is the load harness of issue 5: it measures what sessiongate costs against what
// users would otherwise deploy, and writes docs/PERFORMANCE.md.
//
// One Caddy process (this module's binary) serves every setup on its own loopback port:
//
//	(A) the upstream directly          (B) reverse_proxy
//	(C) forward_auth to bench/authsvc  (D) sessiongate, store memory
//	(E) sessiongate, store bolt        (F) sessiongate, store redis (when the binary has it)
//
// wrk loads each setup in turn and waits for the servers to go idle between measurements. In a
// round, every gated setup (C-F) runs between two measurements of B, in an order that changes
// every round so that each follows every other one equally often (bench/order.go). Every ratio
// (D/B, E/B, F/B, D/C) is taken within a round, each setup against the B measured next to it,
// and the report gives the median over the rounds. Two modes: one hot session, and many
// distinct sessions cycled so that the caches are not trivially hot.
//
//	go run ./bench                                # the full run (docs/PERFORMANCE.md), ~35 minutes
//	go run ./bench -duration 2s -rounds 1         # a smoke run (report in bench/out/)
//	go run ./bench -instructions 5000 -rounds 3 -setups B,H,C,D,E,F
//	                                              # Caddy's instructions per request under
//	                                              # callgrind, not timed (bench/instructions.go)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	wrk       wrkParams
	rounds    int
	sessions  int
	modes     []string
	setups    map[string]bool
	out       string
	profile   map[string]bool
	keep      bool
	warmConns int
	timeout   time.Duration
	alg       string
	// instructions, when above 0, is the requests per measurement of the instructions mode
	// (bench/instructions.go), which replaces the timed rounds.
	instructions int
}

func main() {
	var o options
	var modes, setups, profile string
	flag.DurationVar(&o.wrk.Duration, "duration", 4*time.Second, "length of each wrk measurement (whole seconds)")
	flag.IntVar(&o.rounds, "rounds", 12, "rounds; each measures every gated setup once, between two measurements of B (3 or more for the report)")
	flag.IntVar(&o.wrk.Threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.wrk.Conns, "conns", 64, "wrk connections")
	flag.IntVar(&o.sessions, "sessions", 100_000, "distinct sessions (tokens) of the many-sessions mode")
	flag.StringVar(&modes, "modes", "hot,many", "modes to run: hot (one session), many (-sessions cycled)")
	flag.StringVar(&setups, "setups", "A,B,C,D,E,F", "setups to run (F needs the redis store and redis-server)")
	flag.StringVar(&o.out, "out", "", "report file (default: docs/PERFORMANCE.md with 3 or more rounds, else bench/out/PERFORMANCE.md)")
	flag.StringVar(&profile, "profile", "", "setups (e.g. D,E) to take a CPU profile of Caddy for, during the last round of each mode (when every cache is warm), into bench/out/")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, Caddyfile, logs, bolt file)")
	flag.IntVar(&o.warmConns, "warm-conns", 32, "concurrent requests while warming")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "the whole run stops after this")
	flag.IntVar(&o.instructions, "instructions", 0, "count Caddy's instructions per request under valgrind's callgrind instead of timing it: this many requests of the hot session per setup and round (2 rounds unless -rounds is given); report in bench/out/INSTRUCTIONS.md")
	flag.StringVar(&o.alg, "alg", "RS256", "token signatures: RS256 (an identity provider's, verified against a JWKS file) or HS256 (a shared secret)")
	flag.Parse()
	if o.instructions > 0 && !flagSet("rounds") {
		o.rounds = 2
	}

	if o.wrk.Duration < time.Second || o.rounds < 1 || o.wrk.Threads < 1 || o.wrk.Conns < o.wrk.Threads ||
		o.sessions < 1 || o.warmConns < 1 || o.instructions < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: bad flags; see -help")
		os.Exit(2)
	}
	o.modes = splitList(modes)
	for _, m := range o.modes {
		if m != "hot" && m != "many" {
			fmt.Fprintf(os.Stderr, "bench: unknown mode %q (want hot, many)\n", m)
			os.Exit(2)
		}
	}
	o.profile = map[string]bool{}
	for _, s := range splitList(profile) {
		o.profile[strings.ToUpper(s)] = true
	}
	o.setups = map[string]bool{}
	for _, s := range splitList(setups) {
		o.setups[strings.ToUpper(s)] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped (%w); all its processes have ended", context.Cause(ctx))
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// flagSet reports whether the command line set the flag.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// harness is the state of one run.
type harness struct {
	o        options
	root     string // the module's directory
	outDir   string // bench/out: raw wrk reports, results, profiles
	work     string // the temporary directory
	ps       *procs
	cfg      caddyConfig
	setups   []setup
	caddy    *proc
	others   []*proc // upstream, authsvc, redis: their CPU is "other servers"
	caddyBin string
	signer   *signer
	notes    []string
	wrkLog   io.Writer
	results  results
	instr    []instrResult // the instructions mode's measurements
}

func run(ctx context.Context, o options) (err error) {
	if o.instructions > 0 {
		if err := checkCallgrind(); err != nil {
			return err
		}
		if !o.setups["B"] {
			return errors.New("-instructions needs setup B (plain reverse_proxy), the reference, among -setups")
		}
	} else if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: `make bench` installs it, or apt-get install wrk")
	}
	h := &harness{o: o}
	if h.root, err = moduleRoot(); err != nil {
		return err
	}
	h.outDir = filepath.Join(h.root, "bench", "out")
	if err := os.MkdirAll(h.outDir, 0o755); err != nil {
		return err
	}
	if h.work, err = os.MkdirTemp("", "sessiongate-bench-"); err != nil {
		return err
	}
	if o.keep {
		fmt.Println("bench: keeping", h.work)
	} else {
		defer os.RemoveAll(h.work)
	}
	home := filepath.Join(h.work, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	h.ps = &procs{dir: h.work, env: childEnv(home)}
	if h.signer, err = newSigner(o.alg, h.work); err != nil {
		return err
	}
	h.results.Tokens = h.signer.about
	defer h.ps.stopAll() // on every return, and on a panic too

	wrkLog, err := os.Create(filepath.Join(h.outDir, "wrk.log"))
	if err != nil {
		return err
	}
	defer wrkLog.Close()
	h.wrkLog = wrkLog

	h.results.Started = time.Now()
	h.results.Machine = describeMachine(h.root)
	if err := h.build(ctx); err != nil {
		return err
	}
	if err := h.chooseSetups(); err != nil {
		return err
	}
	if err := h.startServers(ctx); err != nil {
		return err
	}
	if o.instructions > 0 {
		if err := h.countInstructions(ctx); err != nil {
			return err
		}
	} else {
		for _, mode := range o.modes {
			if err := h.runMode(ctx, mode); err != nil {
				return err
			}
		}
	}
	if err := h.stopAndCheck(); err != nil {
		h.notes = append(h.notes, err.Error())
	}
	h.results.Finished = time.Now()
	h.results.Notes = h.notes
	if o.instructions > 0 {
		return h.instrReport()
	}
	return h.report()
}

// moduleRoot is the directory of go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the harness from inside the sessiongate module (go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

// build compiles Caddy with sessiongate, the upstream and the auth service.
func (h *harness) build(ctx context.Context) error {
	h.caddyBin = filepath.Join(h.work, "caddy")
	for _, b := range []struct{ out, pkg string }{
		{h.caddyBin, "./cmd/caddy"},
		{filepath.Join(h.work, "upstream"), "./bench/upstream"},
		{filepath.Join(h.work, "authsvc"), "./bench/authsvc"},
	} {
		fmt.Printf("bench: go build %s\n", b.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = h.root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b.pkg, err)
		}
	}
	h.results.Machine.Caddy = output(h.work, h.caddyBin, "version")
	return nil
}

// chooseSetups keeps the setups asked for, less F when the binary or the machine lacks redis.
func (h *harness) chooseSetups() error {
	for _, s := range allSetups {
		if !h.o.setups[s.Key] {
			continue
		}
		if s.Key == "F" {
			if ok, why := redisSupported(h.caddyBin, h.work, h.signer.gateKeys, h.ps.env); !ok {
				h.notes = append(h.notes, "F (sessiongate redis) skipped: this binary's Caddyfile does not accept `store redis` ("+why+").")
				continue
			}
			if _, err := exec.LookPath("redis-server"); err != nil {
				h.notes = append(h.notes, "F (sessiongate redis) skipped: redis-server is not installed (`make deps` installs it).")
				continue
			}
		}
		h.setups = append(h.setups, s)
	}
	if len(h.setups) == 0 {
		return errors.New("no setup to run")
	}
	for _, n := range h.notes {
		fmt.Println("bench:", n)
	}
	return nil
}

func (h *harness) has(key string) bool {
	for _, s := range h.setups {
		if s.Key == key {
			return true
		}
	}
	return false
}

// startServers starts the upstream, authsvc, redis and Caddy on free loopback ports.
func (h *harness) startServers(ctx context.Context) error {
	ports := map[string]*int{"admin": &h.cfg.AdminPort, "upstream": &h.cfg.UpstreamPort,
		"auth": &h.cfg.AuthPort, "redis": &h.cfg.RedisPort}
	for _, p := range ports {
		var err error
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	for i := range h.setups {
		if h.setups[i].Key == "A" {
			h.setups[i].Port = h.cfg.UpstreamPort
			continue
		}
		var err error
		if h.setups[i].Port, err = freePort(); err != nil {
			return err
		}
	}
	h.cfg.Keys, h.cfg.Dir, h.cfg.Setups = h.signer.gateKeys, h.work, h.setups

	up, err := h.ps.start("upstream", filepath.Join(h.work, "upstream"), "-listen", addr(h.cfg.UpstreamPort))
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, up, h.cfg.UpstreamPort, 20*time.Second); err != nil {
		return err
	}
	h.others = append(h.others, up)
	if h.has("C") {
		args := append([]string{filepath.Join(h.work, "authsvc"), "-listen", addr(h.cfg.AuthPort)}, h.signer.authArgs...)
		auth, err := h.ps.start("authsvc", args...)
		if err != nil {
			return err
		}
		if err := waitTCP(ctx, auth, h.cfg.AuthPort, 20*time.Second); err != nil {
			return err
		}
		h.others = append(h.others, auth)
	}
	if h.has("F") {
		rd, err := h.ps.start("redis", "redis-server", "--port", strconv.Itoa(h.cfg.RedisPort), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", h.work, "--daemonize", "no", "--protected-mode", "yes")
		if err != nil {
			return err
		}
		if err := waitTCP(ctx, rd, h.cfg.RedisPort, 20*time.Second); err != nil {
			return err
		}
		h.others = append(h.others, rd)
		h.results.Machine.Redis = output(h.work, "redis-server", "--version")
	}

	file := filepath.Join(h.work, "Caddyfile")
	if err := os.WriteFile(file, []byte(h.cfg.caddyfile()), 0o600); err != nil {
		return err
	}
	args, startTimeout := []string{h.caddyBin, "run", "--config", file, "--adapter", "caddyfile"}, 30*time.Second
	if h.o.instructions > 0 {
		args, startTimeout = h.callgrindCommand(args...), callgrindStart
	}
	if h.caddy, err = h.ps.start("caddy", args...); err != nil {
		return err
	}
	if err := waitHTTP(ctx, h.caddy, fmt.Sprintf("http://127.0.0.1:%d/config/", h.cfg.AdminPort), startTimeout); err != nil {
		return err
	}
	for _, s := range h.setups {
		if err := waitTCP(ctx, h.caddy, s.Port, 20*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("bench: Caddy up (admin 127.0.0.1:%d), setups %s\n", h.cfg.AdminPort, h.setupKeys())
	return nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (h *harness) setupKeys() string {
	var keys []string
	for _, s := range h.setups {
		keys = append(keys, s.Key)
	}
	return strings.Join(keys, ",")
}

// runMode warms every setup with the mode's tokens and measures the rounds.
func (h *harness) runMode(ctx context.Context, mode string) error {
	now := time.Now()
	var tokens []string
	var script string
	var scriptArgs []string
	switch mode {
	case "hot":
		tok, err := h.signer.hotToken(now)
		if err != nil {
			return err
		}
		tokens = []string{tok}
		script = filepath.Join(h.work, "hot.lua")
		if err := os.WriteFile(script, []byte(fmt.Sprintf(hotScript, tok)), 0o600); err != nil {
			return err
		}
	case "many":
		fmt.Printf("bench: minting %d tokens\n", h.o.sessions)
		var err error
		if tokens, err = h.signer.manyTokens(h.o.sessions, now); err != nil {
			return err
		}
		file := filepath.Join(h.work, "tokens.txt")
		if err := writeLines(file, tokens); err != nil {
			return err
		}
		script = filepath.Join(h.work, "many.lua")
		if err := os.WriteFile(script, []byte(manyScript), 0o600); err != nil {
			return err
		}
		scriptArgs = []string{file}
	}
	mr := &modeResult{Mode: mode, Sessions: len(tokens)}
	h.results.Modes = append(h.results.Modes, mr)

	if err := h.warmUp(ctx, mode, mr, tokens); err != nil {
		return err
	}
	if err := h.settle(ctx, mode, mr); err != nil {
		return err
	}

	writesBefore := map[string]int64{}
	for _, s := range h.setups {
		writesBefore[s.Key] = h.storeWrites(s)
	}
	start := time.Now()
	for round := 1; round <= h.o.rounds; round++ {
		profiled := map[string]bool{}
		for _, s := range roundSequence(h.setups, round) {
			if err := ctx.Err(); err != nil {
				return err
			}
			// The last round profiles each setup asked for, the first time it runs.
			profile := h.o.profile[s.Key] && round == h.o.rounds && !profiled[s.Key]
			profiled[s.Key] = true
			r, err := h.measure(ctx, mode, round, s, profile, script, scriptArgs)
			if err != nil {
				return err
			}
			if r.IdleAfter, err = h.idle(ctx); err != nil {
				return err
			}
			mr.Runs = append(mr.Runs, r)
			fmt.Printf("bench: %s round %d %s %-30s %9.0f req/s  p50 %-9s p99 %-9s Caddy %5.1f us/req  idle after %s\n",
				mode, round, s.Key, s.Name, r.RPS, fmtDur(r.P50), fmtDur(r.P99), r.CaddyCPUPerReq, r.IdleAfter.Round(100*time.Millisecond))
		}
	}
	mr.Measured = time.Since(start)
	if h.has("F") {
		// Which commands the redis store's writes are (cumulative since redis started).
		if info, err := redisInfo(h.cfg.RedisPort, "commandstats"); err == nil {
			_ = os.WriteFile(filepath.Join(h.outDir, "redis-commandstats-"+mode+".txt"), []byte(info), 0o644)
		}
	}
	for _, s := range h.setups {
		if before := writesBefore[s.Key]; before >= 0 {
			var reqs int64
			for _, r := range mr.Runs {
				if r.Setup == s.Key {
					reqs += r.Requests
				}
			}
			mr.Writes = append(mr.Writes, writeCount{Setup: s.Key, Store: s.Store,
				Writes: h.storeWrites(s) - before, Requests: reqs})
		}
	}
	return nil
}

// coldProbe is how many sessions of each gated setup are first seen one setup at a time, timed.
const coldProbe = 2000

// warmUp sends every token once to every gated setup, creating its sessions, so that the rounds
// measure sessions that exist. The first coldProbe sessions go to one setup at a time and are
// timed: the first-sight (cold path) throughput. The rest go to all gated setups at once: a
// bolt create is a committed, fsynced transaction, and 100k of them take minutes.
func (h *harness) warmUp(ctx context.Context, mode string, mr *modeResult, tokens []string) error {
	probe := min(len(tokens), coldProbe)
	for _, s := range h.setups {
		n := max(probe, 1000) // at least enough requests to open every connection
		if !s.Gated {
			n = 1000
		}
		before := h.storeWrites(s)
		start := time.Now()
		if err := warm(ctx, fmt.Sprintf("http://127.0.0.1:%d/", s.Port), tokens[:probe], n, h.o.warmConns); err != nil {
			return fmt.Errorf("warming %s (%s): %w", s.Key, s.Name, err)
		}
		w := warmResult{Setup: s.Key, Sessions: probe, Requests: n, Took: time.Since(start), StoreWrites: -1}
		if before >= 0 {
			w.StoreWrites = h.storeWrites(s) - before
		}
		mr.Warm = append(mr.Warm, w)
		fmt.Printf("bench: %s first sight %-2s %d requests in %s (%.0f/s)\n", mode, s.Key, n, w.Took.Round(time.Millisecond), float64(n)/w.Took.Seconds())
	}
	rest := tokens[probe:]
	if len(rest) == 0 {
		return nil
	}
	fmt.Printf("bench: %s warming the other %d sessions on every gated setup at once\n", mode, len(rest))
	start := time.Now()
	errs := make(chan error, len(h.setups))
	for _, s := range h.setups {
		if !s.Gated {
			continue
		}
		go func() {
			err := warm(ctx, fmt.Sprintf("http://127.0.0.1:%d/", s.Port), rest, len(rest), h.o.warmConns)
			if err != nil {
				err = fmt.Errorf("warming %s (%s): %w", s.Key, s.Name, err)
			}
			errs <- err
		}()
	}
	var err error
	for _, s := range h.setups {
		if s.Gated {
			err = errors.Join(err, <-errs)
		}
	}
	mr.WarmRest = time.Since(start)
	return err
}

// touchInterval is sessiongate's touch interval in this configuration: the default for the
// default 24h idle timeout.
const touchInterval = time.Minute

// settle waits, in the many-sessions mode, until the stores (the memory store too, though its
// writes are not counted) have written the warm-up's backlog:
// a new session's activity is written one touch interval after its creation, and those writes
// would otherwise land in whatever measurement runs then. It waits a touch interval from the
// end of the warm-up, then for no store write in 5 seconds (sessiongate flushes every second),
// at most 30 seconds more.
func (h *harness) settle(ctx context.Context, mode string, mr *modeResult) error {
	counts := func() string {
		var c []string
		for _, s := range h.setups {
			if s.Store == "bolt" || s.Store == "redis" {
				c = append(c, strconv.FormatInt(h.storeWrites(s), 10))
			}
		}
		return strings.Join(c, ",")
	}
	gated := false
	for _, s := range h.setups {
		gated = gated || s.Store != ""
	}
	if mr.Sessions == 1 || !gated {
		return nil
	}
	before := map[string]int64{}
	for _, s := range h.setups {
		before[s.Key] = h.storeWrites(s)
	}
	start := time.Now()
	fmt.Printf("bench: %s waiting %s for the stores to write the warm-up's backlog\n", mode, touchInterval+2*time.Second)
	if err := pause(ctx, touchInterval+2*time.Second); err != nil {
		return err
	}
	last := counts()
	for quiet, waited := 0, 0; quiet < 5 && waited < 30; waited++ {
		if err := pause(ctx, time.Second); err != nil {
			return err
		}
		if cur := counts(); cur == last {
			quiet++
		} else {
			quiet, last = 0, cur
		}
	}
	mr.Settle = time.Since(start)
	for _, s := range h.setups {
		if n := before[s.Key]; n >= 0 {
			mr.SettleWrites = append(mr.SettleWrites, writeCount{Setup: s.Key, Store: s.Store, Writes: h.storeWrites(s) - n})
		}
	}
	return nil
}

// Between measurements the harness waits for the servers to go idle: at least idleMin (the
// last connections close), then until they spend under idleCPU of a core over idleStep, at
// most idleMax.
const (
	idleMin  = time.Second
	idleStep = 250 * time.Millisecond
	idleCPU  = 0.05
	idleMax  = 15 * time.Second
)

// idle waits, after a measurement, until the servers have finished what it left behind (the
// store's last flush, a bolt fold, a collector cycle under way), so that it is not counted
// against the next setup's measurement. It returns how long it waited.
func (h *harness) idle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if err := pause(ctx, idleMin); err != nil {
		return 0, err
	}
	last := h.serversCPU()
	for time.Since(start) < idleMax {
		if err := pause(ctx, idleStep); err != nil {
			return 0, err
		}
		cur := h.serversCPU()
		if float64(cur-last) < idleCPU*float64(idleStep) {
			break
		}
		last = cur
	}
	return time.Since(start), nil
}

// serversCPU is the CPU time Caddy and the other servers have used so far.
func (h *harness) serversCPU() time.Duration {
	t, _ := cpuTime(h.caddy.cmd.Process.Pid)
	return t + h.othersCPU()
}

// measure runs wrk once against s and reads the CPU the servers spent meanwhile; with profile,
// it also takes a CPU profile of Caddy.
func (h *harness) measure(ctx context.Context, mode string, round int, s setup, profile bool, script string, scriptArgs []string) (runResult, error) {
	for _, p := range append([]*proc{h.caddy}, h.others...) {
		if p.exited() {
			return runResult{}, fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail())
		}
	}
	caddyBefore, _ := cpuTime(h.caddy.cmd.Process.Pid)
	othersBefore := h.othersCPU()
	var profiled sync.WaitGroup
	if profile {
		profiled.Add(1)
		go func() {
			defer profiled.Done()
			h.takeProfile(ctx, mode, s.Key)
		}()
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", s.Port)
	res, err := runWrk(ctx, h.o.wrk, url, script, scriptArgs...)
	fmt.Fprintf(h.wrkLog, "=== %s round %d %s (%s) %s\n%s\n", mode, round, s.Key, s.Name, url, res.Raw)
	profiled.Wait()
	if err != nil {
		return runResult{}, err
	}
	caddyAfter, _ := cpuTime(h.caddy.cmd.Process.Pid)
	othersAfter := h.othersCPU()
	if res.Non2xx > 0 || res.SocketErrors > 0 {
		msg := fmt.Sprintf("%s round %d %s: %d non-2xx responses and %d socket errors of %d requests",
			mode, round, s.Key, res.Non2xx, res.SocketErrors, res.Requests)
		if res.Non2xx*1000 > res.Requests {
			return runResult{}, errors.New(msg + "; see bench/out/wrk.log and " + h.caddy.log)
		}
		h.notes = append(h.notes, msg+".")
	}
	r := runResult{Mode: mode, Round: round, Setup: s.Key, RPS: res.RPS, P50: res.P50, P99: res.P99,
		Requests: res.Requests, Non2xx: res.Non2xx, SocketErrors: res.SocketErrors}
	if res.Requests > 0 {
		r.CaddyCPUPerReq = float64(caddyAfter-caddyBefore) / float64(time.Microsecond) / float64(res.Requests)
		r.OtherCPUPerReq = float64(othersAfter-othersBefore) / float64(time.Microsecond) / float64(res.Requests)
	}
	return r, nil
}

func (h *harness) othersCPU() time.Duration {
	var sum time.Duration
	for _, p := range h.others {
		t, _ := cpuTime(p.cmd.Process.Pid)
		sum += t
	}
	return sum
}

// storeWrites is the write count of s's store so far, or -1 when there is none to read.
func (h *harness) storeWrites(s setup) int64 {
	switch s.Store {
	case "bolt":
		id, err := boltTxID(h.cfg.boltPath())
		if err != nil {
			return -1
		}
		return int64(id)
	case "redis":
		n, err := redisChanges(h.cfg.RedisPort)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}

// takeProfile saves a CPU profile of Caddy over most of a measurement, and its top functions.
func (h *harness) takeProfile(ctx context.Context, mode, key string) {
	secs := max(1, int(h.o.wrk.Duration/time.Second)-2)
	path := filepath.Join(h.outDir, "caddy-"+key+"-"+mode+".pprof")
	f, err := os.Create(path)
	if err != nil {
		h.notes = append(h.notes, "profile: "+err.Error())
		return
	}
	time.Sleep(time.Second) // past wrk's start-up
	err = h.adminGet(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), f)
	f.Close()
	if err != nil {
		h.notes = append(h.notes, "profile: "+err.Error())
		return
	}
	top := output(h.root, "go", "tool", "pprof", "-top", "-nodecount=40", h.caddyBin, path)
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+"-top.txt", []byte(top+"\n"), 0o644)
	// What sessiongate's own code costs, apart from Caddy's and the proxy's.
	ours := output(h.root, "go", "tool", "pprof", "-top", "-cum", "-nodecount=40",
		"-focus=sessiongate/sessiongate/", "-ignore=reverseproxy", h.caddyBin, path)
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+"-sessiongate.txt", []byte(ours+"\n"), 0o644)
	for _, line := range strings.Split(ours, "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.HasSuffix(f[5], "caddymodule.(*Handler).ServeHTTP") {
			h.notes = append(h.notes, fmt.Sprintf("CPU profile of Caddy during %s (%s mode, round %d): sessiongate's handler, "+
				"less the reverse_proxy behind it, is %s of Caddy's CPU samples (bench/out/%s).", key, mode, h.o.rounds, f[4], filepath.Base(path)))
		}
	}
	fmt.Printf("bench: CPU profile of Caddy during %s (%s) in %s\n", key, mode, path)
}

// stopAndCheck stops Caddy (flushing pending touches) and checks the bolt write count read from
// the file's meta pages against bbolt's own.
func (h *harness) stopAndCheck() error {
	h.caddy.stop(15 * time.Second)
	if !h.has("E") {
		return nil
	}
	raw, err1 := boltTxID(h.cfg.boltPath())
	viaBolt, err2 := boltTxIDLocked(h.cfg.boltPath())
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("checking the bolt write count: %w", err)
	}
	if raw != viaBolt {
		return fmt.Errorf("bolt write count check: meta pages say txid %d, bbolt says %d", raw, viaBolt)
	}
	h.results.BoltTxID = raw
	h.notes = append(h.notes, fmt.Sprintf("The bolt write count read from the file's meta pages matched bbolt's own once Caddy had "+
		"stopped (last transaction id %d, after the final flush).", raw))
	return nil
}

// warm sends n requests to url, 1 per token in turn, conns at a time, and wants 200 for each.
func warm(ctx context.Context, url string, tokens []string, n, conns int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				if err := get(ctx, client, url, tokens[i%int64(len(tokens))]); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// get sends the request wrk sends: GET with Host and one Authorization header (an empty
// User-Agent keeps Go's client from adding its own; with DisableCompression, Accept-Encoding).
func get(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header["User-Agent"] = []string{""}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// describeMachine is what the report says about where it ran.
func describeMachine(root string) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: output(root, "go", "version"), Wrk: wrkVersion()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	m.Commit = output(root, "git", "describe", "--always", "--dirty", "--abbrev=12")
	return m
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// hotScript sets one Authorization header on wrk's static request: wrk builds it once.
const hotScript = `-- sessiongate bench: the single hot session.
wrk.headers["Authorization"] = "Bearer %s"
`

// manyScript cycles through a file of tokens, one a line (the file is the script's argument),
// each thread from its own random place, so that consecutive requests are different sessions.
const manyScript = `-- sessiongate bench: many sessions, one token per request, cycled.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

-- The requests are formatted once, here: wrk shares the cores with the servers it measures,
-- so the less it does per request, the more of the machine they get.
local reqs, n, i = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    reqs[n] = wrk.format(nil, nil, {["Authorization"] = "Bearer " .. line})
  end
  math.randomseed(os.time() * 1000 + (id or 0))
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
`

// wrkResult is what the harness reads from wrk's report.
type wrkResult struct {
	RPS          float64
	P50, P99     time.Duration
	Requests     int64
	Non2xx       int64
	SocketErrors int64
	Raw          string
}

// wrkParams are the load of every measurement.
type wrkParams struct {
	Threads, Conns int
	Duration       time.Duration
}

// runWrk runs wrk against url with script (and its arguments) and parses its report.
func runWrk(ctx context.Context, p wrkParams, url, script string, scriptArgs ...string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Duration+30*time.Second)
	defer cancel()
	args := []string{
		"-t" + strconv.Itoa(p.Threads), "-c" + strconv.Itoa(p.Conns),
		"-d" + strconv.Itoa(int(p.Duration.Round(time.Second)/time.Second)) + "s",
		"--timeout", "5s", "--latency", "-s", script, url,
	}
	if len(scriptArgs) > 0 {
		args = append(append(args, "--"), scriptArgs...)
	}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return wrkResult{Raw: string(out)}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return parseWrk(string(out))
}

var (
	reRPS     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reReqs    = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	reNon2xx  = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
)

func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{Raw: out}
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's report:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reReqs.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	for _, m := range rePct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk's report:\n%s", out)
	}
	return r, nil
}

// wrkVersion is wrk's version line.
func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type results struct {
	Started, Finished time.Time
	Machine           machine
	Params            string
	Tokens            string // how the tokens are signed and verified
	Modes             []*modeResult
	BoltTxID          uint64 // last bolt transaction id, checked against bbolt at the end
	Notes             []string
}

type machine struct {
	CPUs                                                             int
	CPUModel, Memory, Kernel, Go, Caddy, Wrk, Redis, Commit, LoadAvg string
}

type modeResult struct {
	Mode         string
	Sessions     int
	Warm         []warmResult  // first sight of the first sessions, one setup at a time
	WarmRest     time.Duration // the other sessions, every gated setup at once
	Settle       time.Duration // waiting for the stores to write the warm-up's backlog
	SettleWrites []writeCount  // and what they wrote meanwhile
	Runs         []runResult
	Measured     time.Duration // from the first round's start to the last one's end
	Writes       []writeCount  // store writes while the rounds ran
}

type runResult struct {
	Mode           string
	Round          int
	Setup          string
	RPS            float64
	P50, P99       time.Duration
	Requests       int64
	Non2xx         int64
	SocketErrors   int64
	CaddyCPUPerReq float64       // microseconds of Caddy CPU per request
	OtherCPUPerReq float64       // microseconds of upstream + authsvc + redis CPU per request
	IdleAfter      time.Duration // how long the servers took to go idle after the measurement
}

type warmResult struct {
	Setup       string
	Sessions    int
	Requests    int
	Took        time.Duration
	StoreWrites int64 // -1: not counted
}

type writeCount struct {
	Setup, Store string
	Writes       int64 // bolt: committed transactions; redis: key changes
	Requests     int64 // served by that setup while measured
}

// ratio is a ratio of requests/s between two setups, with its target if any.
type ratio struct {
	Num, Den string
	Target   float64
}

var ratios = []ratio{
	{"D", "B", 0}, {"E", "B", 0.95}, {"F", "B", 0.90}, {"D", "C", 2.0}, {"C", "B", 0},
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
	}
}

// marker separates the hand-written header of docs/PERFORMANCE.md from what the harness writes.
const marker = "<!-- Everything below this line is written by `make bench` (bench/main.go); edit only above it. -->"

const defaultHeader = `# Performance

Measured with the load harness in ` + "`bench/`" + ` (` + "`make bench`" + `).

`

// report prints the results, writes the report file and the raw results.
func (h *harness) report() error {
	h.results.Params = fmt.Sprintf("`wrk -t%d -c%d -d%s --latency` per setup and round, %d round(s)",
		h.o.wrk.Threads, h.o.wrk.Conns, h.o.wrk.Duration, h.o.rounds)
	body := h.markdown()
	fmt.Println()
	fmt.Print(body)

	out := h.o.out
	if out == "" {
		out = filepath.Join(h.root, "docs", "PERFORMANCE.md")
		if h.o.rounds < 3 {
			out = filepath.Join(h.outDir, "PERFORMANCE.md")
		}
	}
	header := defaultHeader
	if old, err := os.ReadFile(out); err == nil {
		if i := strings.Index(string(old), marker); i >= 0 {
			header = string(old[:i])
		}
	}
	if err := os.WriteFile(out, []byte(header+marker+"\n\n"+body), 0o644); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(h.results, "", "  ")
	if err := os.WriteFile(filepath.Join(h.outDir, "results.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nbench: wrote %s; raw results and wrk reports in %s\n", out, h.outDir)
	return nil
}

func (h *harness) markdown() string {
	r := &h.results
	var b strings.Builder
	fmt.Fprintf(&b, "## Run of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("| machine | |\n| --- | --- |\n")
	m := r.Machine
	for _, kv := range [][2]string{
		{"CPUs (nproc)", fmt.Sprint(m.CPUs)}, {"CPU model", m.CPUModel}, {"memory", m.Memory},
		{"kernel", m.Kernel}, {"Go", m.Go}, {"Caddy", m.Caddy}, {"wrk", m.Wrk}, {"redis", m.Redis},
		{"commit", m.Commit}, {"load average at start", m.LoadAvg},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
		}
	}
	order := fmt.Sprintf("the setups' order changed every round so that each setup directly follows every other one "+
		"equally often (a Williams design; a full cycle is %d rounds)", len(orders(len(h.setups))))
	method := "each ratio is of requests/s within one round, then the median over the rounds"
	if slices.ContainsFunc(h.setups, isReference) {
		order = fmt.Sprintf("a round ran A, then every gated setup between two measurements of B (A, B, X1, B, X2, B, ...), "+
			"the gated setups in an order that changed every round so that each directly follows every other one "+
			"equally often (a Williams design; a full cycle is %d rounds)", len(orders(len(gatedOf(h.setups)))))
		method = "each ratio is taken within one round: every setup's requests/s is divided by the mean of the B " +
			"measurements just before and after it, a ratio of two setups is the ratio of those (X/B is X against " +
			"the B's next to it), and the table gives the median over the rounds"
	}
	fmt.Fprintf(&b, "\nLoad: %s; %s; after each measurement a wait until the servers are idle (at least %s, at most %s). "+
		"Setup rows are medians over all measurements; %s. CPU/req is process CPU time (/proc) over requests served: "+
		"Caddy's, and the other servers' (upstream, authsvc, redis); idle after is the median wait. The run took %s.\n",
		r.Params, order, idleMin, idleMax, method, r.Finished.Sub(r.Started).Round(time.Second))
	if r.Tokens != "" {
		fmt.Fprintf(&b, "\nTokens: %s.\n", r.Tokens)
	}

	names := map[string]string{}
	for _, s := range allSetups {
		names[s.Key] = s.Name
	}
	for _, mr := range r.Modes {
		switch mr.Mode {
		case "hot":
			b.WriteString("\n### One hot session\n\nEvery request carries the same token (one session).\n\n")
		case "many":
			fmt.Fprintf(&b, "\n### Many sessions\n\n%d distinct tokens and sessions (one user each, 16 tenants), "+
				"cycled by every wrk thread from a random start, so consecutive requests are different sessions.\n\n", mr.Sessions)
		}
		b.WriteString("| setup | req/s | p50 | p99 | Caddy CPU/req | other CPU/req | idle after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		bySetup := map[string][]runResult{}
		var keys []string
		for _, run := range mr.Runs {
			if bySetup[run.Setup] == nil {
				keys = append(keys, run.Setup)
			}
			bySetup[run.Setup] = append(bySetup[run.Setup], run)
		}
		slices.Sort(keys)
		for _, k := range keys {
			runs := bySetup[k]
			pick := func(f func(runResult) float64) float64 {
				var v []float64
				for _, r := range runs {
					v = append(v, f(r))
				}
				return median(v)
			}
			fmt.Fprintf(&b, "| %s %s | %.0f | %s | %s | %.1f us | %.1f us | %.1f s |\n", k, names[k],
				pick(func(r runResult) float64 { return r.RPS }),
				fmtDur(time.Duration(pick(func(r runResult) float64 { return float64(r.P50) }))),
				fmtDur(time.Duration(pick(func(r runResult) float64 { return float64(r.P99) }))),
				pick(func(r runResult) float64 { return r.CaddyCPUPerReq }),
				pick(func(r runResult) float64 { return r.OtherCPUPerReq }),
				pick(func(r runResult) float64 { return r.IdleAfter.Seconds() }))
		}

		b.WriteString("\n| ratio | median | per round | target | |\n| --- | ---: | --- | ---: | --- |\n")
		for _, rt := range ratios {
			var per []float64
			for round := 1; round <= h.o.rounds; round++ {
				if v, ok := roundRatio(mr.Runs, round, rt.Num, rt.Den); ok {
					per = append(per, v)
				}
			}
			if len(per) == 0 {
				continue
			}
			var s []string
			for _, v := range per {
				s = append(s, fmt.Sprintf("%.3f", v))
			}
			target, verdict := "—", ""
			if rt.Target > 0 {
				target = fmt.Sprintf(">= %.2f", rt.Target)
				verdict = "met"
				if median(per) < rt.Target {
					verdict = "**missed**"
				}
			}
			fmt.Fprintf(&b, "| %s/%s | %.3f | %s | %s | %s |\n", rt.Num, rt.Den, median(per), strings.Join(s, " "), target, verdict)
		}

		var ws []string
		for _, w := range mr.Warm {
			if s := findSetup(w.Setup); !s.Gated {
				continue
			}
			line := fmt.Sprintf("%s %.0f/s", w.Setup, float64(w.Requests)/w.Took.Seconds())
			if w.StoreWrites >= 0 {
				line += fmt.Sprintf(" (%d store writes)", w.StoreWrites)
			}
			ws = append(ws, line)
		}
		if len(ws) > 0 && len(mr.Warm) > 0 {
			w := mr.Warm[len(mr.Warm)-1]
			if w.Sessions == 1 {
				fmt.Fprintf(&b, "\nWarm-up: %d requests with the new session's token, %d at a time, on each gated setup: %s.\n",
					w.Requests, h.o.warmConns, strings.Join(ws, "; "))
			} else {
				fmt.Fprintf(&b, "\nFirst sight (cold path: verify + create), %d new sessions per gated setup, one setup at a time, "+
					"%d requests at a time from a Go client: %s.", w.Sessions, h.o.warmConns, strings.Join(ws, "; "))
				if rest := mr.Sessions - w.Sessions; rest > 0 {
					fmt.Fprintf(&b, " The other %d sessions were then created on every gated setup at once in %s.", rest, mr.WarmRest.Round(time.Second))
				}
				fmt.Fprintf(&b, " The rounds started once the stores had written the warm-up's backlog (%s later).\n", mr.Settle.Round(time.Second))
				var sw []string
				for _, w := range mr.SettleWrites {
					what := "bolt transactions"
					if w.Store == "redis" {
						what = "redis key changes"
					}
					sw = append(sw, fmt.Sprintf("%s %d %s", w.Setup, w.Writes, what))
				}
				if len(sw) > 0 {
					fmt.Fprintf(&b, "Store writes meanwhile: %s.\n", strings.Join(sw, ", "))
				}
			}
		}

		if len(mr.Writes) > 0 {
			fmt.Fprintf(&b, "\nStore writes while the rounds ran (%s, %d session(s) in play; the touch interval is the "+
				"default, a tenth of the 24h idle timeout capped at 1m). Bolt counts write transactions, each committed "+
				"and fsynced: one flush journals every due session in one transaction, and every 200,000 journalled "+
				"touches the journal is compacted (one touch per session, in transactions of 20,000 sessions) or, "+
				"when they are of more than 150,000 sessions, folded into the records in transactions of 5,000 "+
				"sessions, so it bounds the fsyncs, not the sessions written. Redis counts key changes.\n\n", mr.Measured.Round(time.Second), mr.Sessions)
			b.WriteString("| setup | counted | writes | per second | per session per minute | requests served by the setup |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
			for _, w := range mr.Writes {
				what, perSession := "bolt transactions", "—"
				if w.Store == "redis" {
					what = "redis key changes"
					perSession = fmt.Sprintf("%.3f", float64(w.Writes)/float64(mr.Sessions)/mr.Measured.Minutes())
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %s | %d |\n", w.Setup, what, w.Writes,
					float64(w.Writes)/mr.Measured.Seconds(), perSession, w.Requests)
			}
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func findSetup(key string) setup {
	for _, s := range allSetups {
		if s.Key == key {
			return s
		}
	}
	return setup{}
}

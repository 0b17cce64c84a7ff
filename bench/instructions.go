package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The instructions mode (-instructions N) counts what Caddy executes per request instead of
// timing it. Caddy runs under valgrind's callgrind, which counts every instruction it
// executes, whatever else the machine is doing: the same requests give the same count to a
// fraction of a percent, where a wrk measurement on this machine swings by several percent.
// Each measurement is N requests of the hot session to one setup, as wrk sends them (one
// Authorization header).
//
// The collector is off in Caddy (GOGC=off) and a collection is forced between measurements,
// so that no collector cycle lands in one measurement and not another: the count is of the
// request's own work, and what it costs the collector afterwards is reported as the
// allocations and bytes it leaves behind (Caddy's /debug/vars).
//
// Go needs two settings to run under valgrind 3.19: no RDTSCP (valgrind cannot decode it) and
// no asynchronous preemption (callgrind cannot follow its signals).
const (
	callgrindGODEBUG = "GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1"
	callgrindOut     = "callgrind.out"
	// callgrindStart is how long Caddy may take to start under valgrind.
	callgrindStart = 5 * time.Minute
)

// instrResult is one instructions measurement.
type instrResult struct {
	Round        int
	Setup        string
	Instructions float64 // per request
	Allocs       float64 // objects allocated per request
	Bytes        float64 // bytes allocated per request
}

// callgrindCommand is Caddy's command line under callgrind, collecting nothing until
// countInstructions turns collection on.
func (h *harness) callgrindCommand(caddyArgs ...string) []string {
	return append([]string{"env", callgrindGODEBUG, "GOGC=off", "valgrind", "--tool=callgrind",
		"--instr-atstart=no", "--callgrind-out-file=" + filepath.Join(h.work, callgrindOut)}, caddyArgs...)
}

// checkCallgrind says what the instructions mode lacks on this machine.
func checkCallgrind() error {
	for _, cmd := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install valgrind)", cmd)
		}
	}
	return nil
}

// countInstructions warms every setup with the hot session, then measures each Caddy setup
// once per round.
func (h *harness) countInstructions(ctx context.Context) error {
	tok, err := h.signer.hotToken(time.Now())
	if err != nil {
		return err
	}
	tokens := []string{tok}
	if err := h.warmUp(ctx, "hot", &modeResult{Mode: "hot", Sessions: 1}, tokens); err != nil {
		return err
	}
	pid := strconv.Itoa(h.caddy.cmd.Process.Pid)
	if err := callgrindControl("--instr=on", pid); err != nil {
		return err
	}
	dumps := 0
	for round := 1; round <= h.o.rounds; round++ {
		for _, s := range h.setups {
			if s.Key == "A" {
				continue // not Caddy
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := h.adminGet(ctx, "/debug/pprof/heap?gc=1", io.Discard); err != nil {
				return err
			}
			before, err := h.memStats(ctx)
			if err != nil {
				return err
			}
			if err := callgrindControl("--zero", pid); err != nil {
				return err
			}
			url := fmt.Sprintf("http://127.0.0.1:%d/", s.Port)
			if err := warm(ctx, url, tokens, h.o.instructions, h.o.wrk.Conns); err != nil {
				return fmt.Errorf("%s (%s): %w", s.Key, s.Name, err)
			}
			if err := callgrindControl("--dump="+s.Key, pid); err != nil {
				return err
			}
			dumps++
			after, err := h.memStats(ctx)
			if err != nil {
				return err
			}
			ir, err := callgrindTotal(fmt.Sprintf("%s.%d", filepath.Join(h.work, callgrindOut), dumps))
			if err != nil {
				return err
			}
			n := float64(h.o.instructions)
			r := instrResult{Round: round, Setup: s.Key, Instructions: float64(ir) / n,
				Allocs: float64(after.Mallocs-before.Mallocs) / n, Bytes: float64(after.TotalAlloc-before.TotalAlloc) / n}
			h.instr = append(h.instr, r)
			fmt.Printf("bench: instructions round %d %s %-36s %8.0f instructions/req %6.1f allocs/req %7.0f B/req\n",
				round, s.Key, s.Name, r.Instructions, r.Allocs, r.Bytes)
		}
	}
	return nil
}

func callgrindControl(args ...string) error {
	out, err := exec.Command("callgrind_control", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// callgrindTotal reads the instruction count of one callgrind dump.
func callgrindTotal(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			return strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no summary line", path)
}

// memStats are the allocation counters of Caddy's runtime.
type memStats struct {
	Mallocs, TotalAlloc uint64
}

func (h *harness) memStats(ctx context.Context) (memStats, error) {
	var b strings.Builder
	if err := h.adminGet(ctx, "/debug/vars", &b); err != nil {
		return memStats{}, err
	}
	var vars struct{ Memstats memStats }
	if err := json.Unmarshal([]byte(b.String()), &vars); err != nil {
		return memStats{}, fmt.Errorf("reading /debug/vars: %w", err)
	}
	return vars.Memstats, nil
}

// adminGet copies the body of a GET on Caddy's admin endpoint to w.
func (h *harness) adminGet(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", h.cfg.AdminPort, path), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s: %s", path, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// instrMarkdown is the report of an instructions run.
func (h *harness) instrMarkdown() string {
	var b strings.Builder
	r := &h.results
	fmt.Fprintf(&b, "## Instructions per request, run of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Caddy (%s, commit %s) under valgrind's callgrind, the collector off and a collection forced "+
		"before each measurement; %d requests of the one hot session per setup and round, %d connections, "+
		"%d round(s). Tokens: %s. Instructions are Caddy's only (not the upstream's, authsvc's or redis'); "+
		"allocations and bytes are what the requests leave to Caddy's collector. The run took %s.\n\n",
		r.Machine.Caddy, r.Machine.Commit, h.o.instructions, h.o.wrk.Conns, h.o.rounds, r.Tokens,
		r.Finished.Sub(r.Started).Round(time.Second))
	b.WriteString("| setup | instructions/req | range over rounds | vs B | allocs/req | bytes/req |\n" +
		"| --- | ---: | ---: | ---: | ---: | ---: |\n")
	by := map[string][]instrResult{}
	for _, m := range h.instr {
		by[m.Setup] = append(by[m.Setup], m)
	}
	med := func(rs []instrResult, f func(instrResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, m := range rs {
			v[i] = f(m)
		}
		return median(v)
	}
	ir := func(m instrResult) float64 { return m.Instructions }
	base := med(by["B"], ir)
	for _, s := range h.setups {
		rs := by[s.Key]
		if len(rs) == 0 {
			continue
		}
		v := med(rs, ir)
		byIR := func(a, b instrResult) int { return cmp.Compare(a.Instructions, b.Instructions) }
		lo, hi := slices.MinFunc(rs, byIR), slices.MaxFunc(rs, byIR)
		vs := "—"
		if base > 0 && s.Key != "B" {
			vs = fmt.Sprintf("%+.0f (%+.1f%%)", v-base, 100*(v-base)/base)
		}
		fmt.Fprintf(&b, "| %s %s | %.0f | %.0f-%.0f | %s | %.1f | %.0f |\n", s.Key, s.Name, v, lo.Instructions, hi.Instructions, vs,
			med(rs, func(m instrResult) float64 { return m.Allocs }), med(rs, func(m instrResult) float64 { return m.Bytes }))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

// instrReport prints the instructions report and writes it to -out, else bench/out/INSTRUCTIONS.md.
func (h *harness) instrReport() error {
	body := h.instrMarkdown()
	fmt.Println()
	fmt.Print(body)
	out := h.o.out
	if out == "" {
		out = filepath.Join(h.outDir, "INSTRUCTIONS.md")
	}
	if err := os.WriteFile(out, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nbench: wrote %s\n", out)
	return nil
}

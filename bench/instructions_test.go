package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCallgrindTotal reads the count from a dump's summary line, and says so when a file has
// none (a dump cut short).
func TestCallgrindTotal(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "callgrind.out.1")
	body := "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 42\ncmd:  ./caddy run\npart: 1\n\n" +
		"desc: Trigger: dump D\n\npositions: line\nevents: Ir\nsummary: 1379500000\n\n\nfl=(1) x.go\nfn=(1) main\n16 10\n"
	if err := os.WriteFile(dump, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := callgrindTotal(dump); err != nil || n != 1379500000 {
		t.Fatalf("callgrindTotal = %d, %v; want 1379500000", n, err)
	}
	cut := filepath.Join(dir, "callgrind.out.2")
	if err := os.WriteFile(cut, []byte(body[:strings.Index(body, "summary:")]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := callgrindTotal(cut); err == nil || !strings.Contains(err.Error(), "no summary") {
		t.Fatalf("callgrindTotal of a dump without summary: %v, want an error naming it", err)
	}
}

// TestInstrMarkdown: each setup's row is the median over its rounds, its range, and its
// difference from B's median.
func TestInstrMarkdown(t *testing.T) {
	h := &harness{setups: []setup{findSetup("B"), findSetup("H"), findSetup("D")}}
	h.o.instructions, h.o.rounds = 1000, 3
	for round, v := range [][3]float64{{200000, 210000, 230000}, {200100, 210000, 229000}, {199900, 210000, 231000}} {
		for i, k := range []string{"B", "H", "D"} {
			h.instr = append(h.instr, instrResult{Round: round + 1, Setup: k, Instructions: v[i], Allocs: 200, Bytes: 17000})
		}
	}
	md := h.instrMarkdown()
	for _, want := range []string{
		"| B reverse_proxy | 200000 | 199900-200100 | — | 200.0 | 17000 |",
		"| H reverse_proxy + identity headers | 210000 | 210000-210000 | +10000 (+5.0%) |",
		"| D sessiongate memory | 230000 | 229000-231000 | +30000 (+15.0%) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

package main

import (
	"math"
	"testing"
)

// sequence makes a round of runs from keys and their requests/s, in the order measured.
func sequence(round int, keys string, rps ...float64) []runResult {
	var out []runResult
	for i, k := range keys {
		out = append(out, runResult{Round: round, Setup: string(k), RPS: rps[i]})
	}
	return out
}

// TestRoundRatioAgainstNeighbouringB: a setup is measured against the B's next to it, so a
// steady drift of the machine's speed over the round cancels out; a ratio of two gated setups
// is the ratio of their ratios to B.
func TestRoundRatioAgainstNeighbouringB(t *testing.T) {
	// The machine slows by 5% of B's speed at every measurement; D runs at 0.95 of B, C at 0.4.
	speed := func(i int) float64 { return 10000 * (1 - 0.05*float64(i)) }
	keys := "ABCBDB"
	share := map[rune]float64{'A': 4, 'B': 1, 'C': 0.4, 'D': 0.95}
	var rps []float64
	for i, k := range keys {
		rps = append(rps, speed(i)*share[k])
	}
	runs := append(sequence(1, keys, rps...), sequence(2, "BD", 9000, 8000)...)
	for _, c := range []struct {
		num, den string
		want     float64
	}{{"D", "B", 0.95}, {"C", "B", 0.4}, {"D", "C", 0.95 / 0.4}} {
		got, ok := roundRatio(runs, 1, c.num, c.den)
		if !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s/%s: %v, %v; want %.4f", c.num, c.den, got, ok, c.want)
		}
	}
	// Against the round's first B only (the plain ratio), the drift would show.
	if plain := rps[4] / rps[1]; math.Abs(plain-0.95) < 0.05 {
		t.Fatalf("the drift is too small to test: plain D/B %.3f", plain)
	}
	if got, ok := roundRatio(runs, 2, "D", "B"); !ok || got != 8000.0/9000 {
		t.Errorf("round 2 D/B: %v, %v; want %v", got, ok, 8000.0/9000)
	}
	if _, ok := roundRatio(runs, 1, "E", "B"); ok {
		t.Error("a ratio of a setup the round did not measure")
	}
}

// TestRoundRatioWithoutNeighbouringB: a setup with no B next to it is taken against the
// round's B's; a round without B gives the plain ratio.
func TestRoundRatioWithoutNeighbouringB(t *testing.T) {
	runs := sequence(1, "BADB", 9000, 40000, 7000, 11000)
	if got, ok := roundRatio(runs, 1, "A", "B"); !ok || got != 40000.0/9000 {
		t.Errorf("A/B: %v, %v; want %v (A is next to the first B)", got, ok, 40000.0/9000)
	}
	runs = sequence(1, "BACDB", 9000, 40000, 4000, 8000, 11000)
	if got, ok := roundRatio(runs, 1, "C", "B"); !ok || got != 4000.0/10000 {
		t.Errorf("C/B: %v, %v; want %v (the mean of the round's B's)", got, ok, 4000.0/10000)
	}
	runs = sequence(1, "CDE", 4000, 8000, 7600)
	if got, ok := roundRatio(runs, 1, "D", "C"); !ok || got != 2 {
		t.Errorf("D/C without B: %v, %v; want 2", got, ok)
	}
}

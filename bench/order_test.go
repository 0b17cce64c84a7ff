package main

import (
	"slices"
	"strings"
	"testing"
)

// TestOrdersBalanceNeighbours checks the Williams property for every number of setups the
// harness can have: each setup runs first equally often and directly follows every other
// setup equally often, over one cycle of orders.
func TestOrdersBalanceNeighbours(t *testing.T) {
	for n := 1; n <= 8; n++ {
		rows := orders(n)
		want := 1
		if n%2 == 1 {
			want = 2
		}
		if len(rows) != want*n {
			t.Fatalf("n=%d: %d orders, want %d", n, len(rows), want*n)
		}
		first := make([]int, n)
		follows := map[[2]int]int{}
		for _, row := range rows {
			sorted := slices.Sorted(slices.Values(row))
			for i, v := range sorted {
				if v != i {
					t.Fatalf("n=%d: order %v is not a permutation", n, row)
				}
			}
			first[row[0]]++
			for i := 1; i < n; i++ {
				follows[[2]int{row[i-1], row[i]}]++
			}
		}
		for s, c := range first {
			if c != want {
				t.Errorf("n=%d: setup %d runs first %d times, want %d", n, s, c, want)
			}
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b && follows[[2]int{a, b}] != want {
					t.Errorf("n=%d: %d directly follows %d %d times, want %d", n, b, a, follows[[2]int{a, b}], want)
				}
			}
		}
	}
}

// setupsOf returns the setups named by keys, in that order.
func setupsOf(keys string) []setup {
	var out []setup
	for _, k := range keys {
		out = append(out, findSetup(string(k)))
	}
	return out
}

func TestRoundOrderCycles(t *testing.T) {
	setups := setupsOf("ABCDEF")
	keys := func(ss []setup) string {
		var b []byte
		for _, s := range ss {
			b = append(b, s.Key...)
		}
		return string(b)
	}
	if got := keys(roundOrder(setups, 1)); got != "ABFCED" {
		t.Errorf("round 1: %s, want ABFCED", got)
	}
	if got := keys(roundOrder(setups, 2)); got != "BCADFE" {
		t.Errorf("round 2: %s, want BCADFE", got)
	}
	if keys(roundOrder(setups, 7)) != keys(roundOrder(setups, 1)) {
		t.Error("round 7 does not start the cycle of 6 orders again")
	}
}

// TestRoundSequenceBracketsGatedSetups: with B among the setups, a round runs the others
// first, then every gated setup once, each with B directly before and after it, in the
// gated setups' Williams order for the round; without B, a round is roundOrder.
func TestRoundSequenceBracketsGatedSetups(t *testing.T) {
	keys := func(ss []setup) string {
		var b []byte
		for _, s := range ss {
			b = append(b, s.Key...)
		}
		return string(b)
	}
	setups := setupsOf("ABCDEF")
	for round, want := range map[int]string{1: "ABCBDBFBEB", 2: "ABDBEBCBFB", 5: "ABCBDBFBEB"} {
		if got := keys(roundSequence(setups, round)); got != want {
			t.Errorf("round %d: %s, want %s", round, got, want)
		}
	}
	gated := gatedOf(setups)
	for round := 1; round <= 4; round++ {
		seq := keys(roundSequence(setups, round))
		order := keys(roundOrder(gated, round))
		if got := strings.ReplaceAll(seq[2:], "B", ""); got != order {
			t.Errorf("round %d: gated setups run %s, want the Williams order %s", round, got, order)
		}
	}
	noRef := setupsOf("ADE")
	if got, want := keys(roundSequence(noRef, 2)), keys(roundOrder(noRef, 2)); got != want {
		t.Errorf("without B: %s, want roundOrder's %s", got, want)
	}
}

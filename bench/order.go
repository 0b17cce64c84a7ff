package main

import "slices"

// orders are the setups' orders of successive rounds: a Williams design, in which every setup
// directly follows every other one equally often, and runs first equally often. Whatever a
// setup leaves behind (a store flush or fold still running after its measurement, a collector
// cycle under way) then falls on every other setup alike, not on one or two neighbours. Round
// k (from 1) runs orders(n)[(k-1) % len]: n orders when n is even, each ordered pair adjacent
// once; 2n when n is odd (each order and its reverse), each pair adjacent twice.
func orders(n int) [][]int {
	if n <= 0 {
		return nil
	}
	// 0, 1, n-1, 2, n-2, ...: its steps (mod n) are 1, -2, 3, -4, ..., every non-zero residue
	// once when n is even, so the shifted copies below place every pair side by side once.
	base := make([]int, n)
	for i, lo, hi := 1, 1, n-1; i < n; i++ {
		if i%2 == 1 {
			base[i], lo = lo, lo+1
		} else {
			base[i], hi = hi, hi-1
		}
	}
	var out [][]int
	for shift := 0; shift < n; shift++ {
		row := make([]int, n)
		for i, v := range base {
			row[i] = (v + shift) % n
		}
		out = append(out, row)
	}
	if n%2 == 1 {
		for _, row := range out[:n] {
			rev := slices.Clone(row)
			slices.Reverse(rev)
			out = append(out, rev)
		}
	}
	return out
}

// reference is the setup every ratio is measured against: plain reverse_proxy.
const reference = "B"

// roundSequence is the measurements of round (from 1). With the reference among the setups,
// the gated setups run in the round's order of the Williams design, each between two
// measurements of the reference: A, B, X1, B, X2, B, X3, B, X4, B. Each gated setup's ratio to
// the reference is then taken against the reference measured just before and just after it,
// seconds apart, rather than once per round up to half a minute away: the machine's speed
// drifts and steps over tens of seconds, and the ratio of two measurements drifts with
// their distance. Without the reference, every setup runs once in the round's order.
func roundSequence(setups []setup, round int) []setup {
	ref := slices.IndexFunc(setups, isReference)
	if ref < 0 {
		return roundOrder(setups, round)
	}
	var out []setup
	for _, s := range setups {
		if !s.Gated && s.Key != reference {
			out = append(out, s)
		}
	}
	out = append(out, setups[ref])
	for _, s := range roundOrder(gatedOf(setups), round) {
		out = append(out, s, setups[ref])
	}
	return out
}

func isReference(s setup) bool { return s.Key == reference }

// gatedOf is the gated setups (C-F) of setups.
func gatedOf(setups []setup) []setup {
	var out []setup
	for _, s := range setups {
		if s.Gated {
			out = append(out, s)
		}
	}
	return out
}

// roundOrder is the setups in the order of round (from 1).
func roundOrder(setups []setup, round int) []setup {
	rows := orders(len(setups))
	if len(rows) == 0 {
		return nil
	}
	row := rows[(round-1)%len(rows)]
	out := make([]setup, len(row))
	for i, j := range row {
		out[i] = setups[j]
	}
	return out
}

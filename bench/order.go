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

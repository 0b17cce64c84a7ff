package main

import "slices"

// roundRatio is the ratio of num's requests/s to den's in one round of runs (in the order they
// were measured). Each setup is first taken relative to the reference measured next to it
// (rel), and the ratio of two setups is that of their rels; in a round without the reference
// it is the plain ratio of their requests/s.
func roundRatio(runs []runResult, round int, num, den string) (float64, bool) {
	var seq []runResult
	for _, r := range runs {
		if r.Round == round {
			seq = append(seq, r)
		}
	}
	n, okN := rel(seq, num)
	d, okD := rel(seq, den)
	if !okN || !okD || d <= 0 {
		return 0, false
	}
	return n / d, true
}

// rel is key's requests/s in a round's sequence of measurements, relative to the mean of the
// reference's measurements directly before and after it, or of all the round's measurements
// of the reference when none is next to it; the reference's own rel is 1. In a round without
// the reference it is the plain requests/s.
func rel(seq []runResult, key string) (float64, bool) {
	i := slices.IndexFunc(seq, func(r runResult) bool { return r.Setup == key })
	if i < 0 {
		return 0, false
	}
	isRef := func(r runResult) bool { return r.Setup == reference }
	if !slices.ContainsFunc(seq, isRef) {
		return seq[i].RPS, true
	}
	if key == reference {
		return 1, true
	}
	var near []float64
	for _, j := range []int{i - 1, i + 1} {
		if j >= 0 && j < len(seq) && isRef(seq[j]) {
			near = append(near, seq[j].RPS)
		}
	}
	if len(near) == 0 {
		for _, r := range seq {
			if isRef(r) {
				near = append(near, r.RPS)
			}
		}
	}
	var sum float64
	for _, v := range near {
		sum += v
	}
	if sum <= 0 {
		return 0, false
	}
	return seq[i].RPS / (sum / float64(len(near))), true
}

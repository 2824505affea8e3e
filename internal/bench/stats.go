package bench

import (
	"errors"
	"fmt"
	"slices"
)

// Summary describes a set of figures: their median and extremes, and the
// figures themselves in run order.
type Summary struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

// Summarize returns the summary of values. The zero Summary (with an empty,
// non-nil Values) describes no values.
func Summarize(values []float64) Summary {
	s := Summary{Values: slices.Clone(values)}
	if s.Values == nil {
		s.Values = []float64{}
	}
	if len(values) == 0 {
		return s
	}
	s.Median = Median(values)
	s.Min = slices.Min(values)
	s.Max = slices.Max(values)
	return s
}

// Median returns the middle value of values, or the mean of the two middle
// ones for an even count; 0 for none. values is not modified.
func Median(values []float64) float64 {
	n := len(values)
	if n == 0 {
		return 0
	}
	v := slices.Clone(values)
	slices.Sort(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// PairedRatios returns a[i]/b[i] for every pair: the ratio of two figures
// measured next to each other, which drifts far less between runs than
// either figure does.
func PairedRatios(a, b []float64) ([]float64, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("bench: %d figures paired with %d", len(a), len(b))
	}
	r := make([]float64, len(a))
	for i := range a {
		if b[i] == 0 {
			return nil, errors.New("bench: ratio to a zero figure")
		}
		r[i] = a[i] / b[i]
	}
	return r, nil
}

package bench_test

import (
	"slices"
	"testing"

	"github.com/snoopswitch/snoopswitch/internal/bench"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd count, unsorted", []float64{3, 1, 2}, 2},
		// Even counts take the mean of the two middle values: with --quick's
		// two pairs the median is the mean.
		{"even count", []float64{4, 1, 3, 2}, 2.5},
		{"two", []float64{1.0, 2.0}, 1.5},
		{"duplicates", []float64{5, 5, 1, 5}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.values)
			if got := bench.Median(tt.values); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.values, got, tt.want)
			}
			if !slices.Equal(in, tt.values) {
				t.Errorf("Median reordered its input: %v became %v", in, tt.values)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := bench.Summarize([]float64{1.2, 0.8, 1.0, 1.5, 0.9})
	if s.Median != 1.0 || s.Min != 0.8 || s.Max != 1.5 {
		t.Errorf("Summarize: median %v min %v max %v, want 1 0.8 1.5", s.Median, s.Min, s.Max)
	}
	if want := []float64{1.2, 0.8, 1.0, 1.5, 0.9}; !slices.Equal(s.Values, want) {
		t.Errorf("Summarize: values %v, want them in run order %v", s.Values, want)
	}
	// An empty summary still has a JSON array, not null.
	if empty := bench.Summarize(nil); empty.Values == nil || len(empty.Values) != 0 {
		t.Errorf("Summarize(nil).Values = %#v, want an empty slice", empty.Values)
	}
}

func TestPairedRatios(t *testing.T) {
	got, err := bench.PairedRatios([]float64{150, 100, 90}, []float64{100, 100, 120})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1.5, 1, 0.75}; !slices.Equal(got, want) {
		t.Errorf("PairedRatios = %v, want %v", got, want)
	}
	// The median of the ratios is not the ratio of the medians: the pairing
	// is the point.
	if m := bench.Median(got); m != 1 {
		t.Errorf("median ratio %v, want 1", m)
	}
	if _, err := bench.PairedRatios([]float64{1, 2}, []float64{1}); err == nil {
		t.Error("PairedRatios of 2 and 1 figures: no error")
	}
	if _, err := bench.PairedRatios([]float64{1}, []float64{0}); err == nil {
		t.Error("PairedRatios with a zero divisor: no error")
	}
}

// Package bench measures snoopswitch against the Linux bridge on the same
// namespace lab, alternating the two, and reports paired ratios with the CPU
// and drop figures that make them trustworthy (see BENCHMARKS.md).
package bench

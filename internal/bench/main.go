// Command bench prints the speed figures the issues ask for, each next to a
// baseline measured in the same run. `make bench` runs it; each area adds
// its figures in a file of its own with register(). BOS_BENCH=part runs
// only the figures whose names contain part.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

type benchmark struct {
	name string
	run  func() error
}

var benchmarks []benchmark

// register adds a benchmark; files of this package call it from init.
func register(name string, run func() error) {
	benchmarks = append(benchmarks, benchmark{name, run})
}

// ratio prints a figure next to its baseline.
func ratio(what string, got, base time.Duration, target string) {
	fmt.Printf("  %-58s %12v  baseline %12v  ratio %5.2fx  (target %s)\n",
		what, got.Round(time.Microsecond), base.Round(time.Microsecond),
		float64(got)/float64(base), target)
}

// figure prints a plain figure.
func figure(what, value, target string) {
	fmt.Printf("  %-58s %s  (target %s)\n", what, value, target)
}

// timeN runs f n times and returns the mean duration per run.
func timeN(n int, f func() error) (time.Duration, error) {
	if err := f(); err != nil { // warm up, and fail early
		return 0, err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func main() {
	sort.SliceStable(benchmarks, func(i, j int) bool { return benchmarks[i].name < benchmarks[j].name })
	failed := 0
	only := os.Getenv("BOS_BENCH") // a part of the names to run; empty: all
	for _, b := range benchmarks {
		if only != "" && !strings.Contains(b.name, only) {
			continue
		}
		fmt.Printf("%s\n", b.name)
		if err := b.run(); err != nil {
			fmt.Printf("  error: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

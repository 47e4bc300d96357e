// Command go-pprof times github.com/google/pprof/profile.Parse (gunzip + parse) over files,
// the Go side of benches/compare-go-pprof.sh.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o go-pprof-bench .
//	./go-pprof-bench -n 1000 -r 5 FILE...
//
// Prints one line per file: "<file>\t<ns/op>", the median of -r rounds of -n calls after one
// warm-up round.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/google/pprof/profile"
)

func main() {
	n := flag.Int("n", 1000, "calls per round")
	rounds := flag.Int("r", 5, "rounds (the median is printed)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: go-pprof-bench [-n N] [-r R] FILE...")
		os.Exit(2)
	}
	if *rounds < 1 {
		*rounds = 1
	}
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cannot read %s: %v\n", path, err)
			os.Exit(1)
		}
		if _, err := profile.Parse(bytes.NewReader(data)); err != nil {
			fmt.Fprintf(os.Stderr, "%s does not parse: %v\n", path, err)
			os.Exit(1)
		}
		round := func() float64 {
			start := time.Now()
			for i := 0; i < *n; i++ {
				p, err := profile.Parse(bytes.NewReader(data))
				if err != nil || p == nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
					os.Exit(1)
				}
			}
			return float64(time.Since(start).Nanoseconds()) / float64(*n)
		}
		round() // warm-up
		results := make([]float64, *rounds)
		for r := range results {
			results[r] = round()
		}
		sort.Float64s(results)
		m := results[len(results)/2]
		if len(results)%2 == 0 {
			m = (results[len(results)/2-1] + results[len(results)/2]) / 2
		}
		fmt.Printf("%s\t%.0f\n", path, m)
	}
}

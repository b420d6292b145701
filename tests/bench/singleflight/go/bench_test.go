// Go's half of the libsingleflight comparison: the same two benchmarks as
// ../bench.c, against golang.org/x/sync/singleflight.  Built offline in
// GOPATH mode from /usr/share/gocode (Debian golang-golang-x-sync-dev); run
// by ../run.
package sfbench

import (
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sync/singleflight"
)

const (
	nDistinct = 1 << 16 // power of two, same as bench.c
	nHot      = 16
	nThreads  = 8
)

var (
	distinctKeys [nDistinct]string
	hotKeys      [nHot]string
	value        = new(int) // what every fn returns, like bench.c's the_value
)

func init() {
	for i := range distinctKeys {
		distinctKeys[i] = "key-" + strconv.Itoa(i)
	}
	for i := range hotKeys {
		hotKeys[i] = "hot-" + strconv.Itoa(i)
	}
}

// trivial captures nothing, so Do's argument costs no allocation: the same
// work as bench.c's trivial.
func trivial() (interface{}, error) { return value, nil }

func BenchmarkDistinct(b *testing.B) {
	var g singleflight.Group
	for i := 0; i < b.N; i++ {
		v, err, _ := g.Do(distinctKeys[i&(nDistinct-1)], trivial)
		if err != nil || v != value {
			b.Fatal("wrong result")
		}
	}
}

func BenchmarkHot8(b *testing.B) {
	var g singleflight.Group
	var wg sync.WaitGroup
	per := (b.N + nThreads - 1) / nThreads
	for t := 0; t < nThreads; t++ {
		wg.Add(1)
		go func(x uint64) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				// xorshift64, as in bench.c
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				v, err, _ := g.Do(hotKeys[x&(nHot-1)], trivial)
				if err != nil || v != value {
					b.Error("wrong result")
					return
				}
			}
		}((uint64(t)+1)*0x9e3779b97f4a7c15 | 1)
	}
	wg.Wait()
}

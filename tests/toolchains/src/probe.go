// The toolchain probe in Go (GOOS=wasip1 GOARCH=wasm): the same report as probe.c, through
// Go's own runtime (goroutine scheduler, garbage collector) and its wasip1 syscall layer.
//
//	probe FILE CODE [WORDS...]
package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func report(out *bufio.Writer) int {
	fmt.Fprintf(out, "toolchain: go (%s)\n", runtime.Version())
	args := os.Args[1:]
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe FILE CODE [WORDS...]")
		return 2
	}
	fmt.Fprintf(out, "args: %d\n", len(args))
	for i, arg := range args {
		fmt.Fprintf(out, "arg %d: %s\n", i+1, arg)
	}

	greeting, ok := os.LookupEnv("GREETING")
	if !ok {
		greeting = "(unset)"
	}
	fmt.Fprintf(out, "env GREETING: %s\n", greeting)
	absent := "(unset)"
	if _, ok := os.LookupEnv("PROBE_ABSENT"); ok {
		absent = "set"
	}
	fmt.Fprintf(out, "env PROBE_ABSENT: %s\n", absent)

	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Fprintf(out, "file %s: %d bytes\n", args[0], len(data))
	out.Write(data)

	// time.Now carries a monotonic reading (clock_time_get of the monotonic clock) beside
	// the wall time; Sub uses it.
	a := time.Now()
	b := time.Now()
	mono := "ok"
	if b.Sub(a) < 0 {
		mono = "WENT BACK"
	}
	fmt.Fprintf(out, "monotonic clock: %s\n", mono)
	wall := "ok"
	if b.Unix() <= 1577836800 {
		wall = "BEFORE 2020"
	}
	fmt.Fprintf(out, "realtime clock: %s\n", wall)

	// A goroutine draws the random bytes and hands them over a channel.
	ch := make(chan []byte)
	go func() {
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			buf = nil
		}
		ch <- buf
	}()
	buf := <-ch
	zero := " ALL ZERO"
	for _, c := range buf {
		if c != 0 {
			zero = ""
		}
	}
	if len(buf) == 0 {
		zero = ""
	}
	fmt.Fprintf(out, "random: %d bytes%s\n", len(buf), zero)

	code, _ := strconv.Atoi(args[1])
	fmt.Fprintf(os.Stderr, "probe: exiting with %d\n", code)
	return code
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	code := report(out)
	out.Flush()
	os.Exit(code)
}

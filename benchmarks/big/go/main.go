// A Go program that pulls in a realistic share of the standard library (fmt, encoding/json,
// regexp, sort, crypto/sha256, compress/gzip, text/template, math/big, strings) so that its
// wasip1 build is a large module, and does a little of each so that a run exercises them.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

type Record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Score float64           `json:"score"`
	Attrs map[string]string `json:"attrs"`
}

func records(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{
			ID:    i,
			Name:  "item-" + strconv.Itoa(i*7919%n),
			Tags:  []string{"t" + strconv.Itoa(i%5), "g" + strconv.Itoa(i%3)},
			Score: float64(i*31%97) / 3.0,
			Attrs: map[string]string{"k": strconv.Itoa(i % 11)},
		}
	}
	return out
}

func main() {
	n := 2000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	recs := records(n)
	blob, err := json.Marshal(recs)
	if err != nil {
		panic(err)
	}
	var back []Record
	if err := json.Unmarshal(blob, &back); err != nil {
		panic(err)
	}
	sort.Slice(back, func(a, b int) bool {
		if back[a].Score != back[b].Score {
			return back[a].Score > back[b].Score
		}
		return back[a].Name < back[b].Name
	})
	fmt.Printf("json: %d bytes, top %s %.3f\n", len(blob), back[0].Name, back[0].Score)

	re := regexp.MustCompile(`item-(\d+)7"`)
	matches := re.FindAllSubmatch(blob, -1)
	total := 0
	for _, m := range matches {
		v, _ := strconv.Atoi(string(m[1]))
		total += v
	}
	fmt.Printf("regexp: %d matches, sum %d\n", len(matches), total)

	sum := sha256.Sum256(blob)
	fmt.Printf("sha256: %x\n", sum[:8])

	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(blob)
	zw.Close()
	packed := zbuf.Len()
	zr, err := gzip.NewReader(&zbuf)
	if err != nil {
		panic(err)
	}
	plain, _ := io.ReadAll(zr)
	fmt.Printf("gzip: %d -> %d bytes, round trip %v\n", len(blob), packed, bytes.Equal(plain, blob))

	f := new(big.Int).MulRange(1, int64(n/4+1))
	fmt.Printf("big: %d!/... has %d digits\n", n/4+1, len(f.String()))

	tmpl := template.Must(template.New("r").Parse("{{range .}}{{if lt .ID 3}}{{.ID}}:{{.Name}}:{{index .Tags 0}} {{end}}{{end}}\n"))
	var tb strings.Builder
	tmpl.Execute(&tb, recs)
	fmt.Print("template: ", tb.String())
}

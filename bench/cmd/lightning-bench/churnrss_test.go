package main

import (
	"os"
	"testing"

	"github.com/lightningdb/lightningdb/bench"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 2000000: "2,000,000", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	old := os.Args
	defer func() { os.Args = old }()
	os.Args = []string{"lightning-bench", "--churn-rss", "--churn-label", "lightningdb main 8e82d83", "--x", "it's", "--y", ""}
	want := `go run ./bench/cmd/lightning-bench --churn-rss --churn-label 'lightningdb main 8e82d83' --x 'it'\''s' --y ''`
	if got := commandLine(); got != want {
		t.Fatalf("commandLine() = %s\nwant %s", got, want)
	}
}

func TestChurnFailures(t *testing.T) {
	if err := churnFailures([]bench.ChurnRun{{Label: "ok"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []bench.ChurnRun{{Label: "a", Errors: 1}, {Label: "b", Truncated: true}, {Label: "c", ServerExited: true}} {
		if err := churnFailures([]bench.ChurnRun{r}); err == nil {
			t.Errorf("%s: no failure", r.Label)
		}
	}
}

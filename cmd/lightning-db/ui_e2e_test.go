package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of Debian's chromium, or skips (fails under
// CI, which installs it).
func chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed: apt-get install chromium")
	return ""
}

// browser is a headless Chromium tab that records console errors,
// uncaught exceptions and error log entries (failed requests).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.event))
	t.Cleanup(func() { cancel(); acancel() })
	b.ctx = ctx
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) event(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		}
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			msg = "log: " + e.Entry.Text + " " + e.Entry.URL
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}
}

// do runs steps with a deadline; a failure names the step.
func (b *browser) do(t testing.TB, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		state, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + "\nq=" + (document.querySelector("#q") || {}).value + " ac=" + (document.querySelector("#ac") || {}).outerHTML + "\n" + (document.querySelector("main") || document.body).innerText.slice(0, 1500)`))
		t.Fatalf("%s: %v (console errors so far: %v)\npage: %s", step, err, b.errs(), state)
	}
}

// eval evaluates a JavaScript expression into T.
func eval[T any](t testing.TB, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) errs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors)
}

// screenshot keeps a PNG of the page in the test's artifact directory.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// waitJS polls a JavaScript expression until it is true (bounded by the
// step's deadline).
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))
}

// pressKey presses a key as a keyboard does: one keyDown carrying its
// text, then keyUp. (chromedp.KeyEvent sends the text as a separate char
// event, which a keydown handler's preventDefault does not stop.)
func pressKey(key, text string, code int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: key, Code: key, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code}
			if typ == input.DispatchKeyEventTypeKeyDown {
				p.Text = text
			}
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// seedUI writes the UI test's series: ui_many 30 series, ui_temp 2,
// ui_one 1, one point a minute over the last hour; and yesterday noon
// (UTC) 10 of ui_many's series and both of ui_temp's.
func seedUI(t *testing.T, p *proc) {
	var b strings.Builder
	now := time.Now().Truncate(time.Minute)
	for m := 60; m >= 0; m-- {
		ts := now.Add(-time.Duration(m) * time.Minute).UnixNano()
		for i := range 30 {
			fmt.Fprintf(&b, "ui,slot=s%02d many=%d %d\n", i, i+m, ts)
		}
		fmt.Fprintf(&b, "ui,room=a temp=%d %d\nui,room=b temp=%d %d\nui one=1 %d\n", 20+m%5, ts, 10+m%3, ts, ts)
	}
	// Yesterday (UTC): ui_many had 10 series and ui_temp its 2, so today
	// ui_many grew by 20 and ui_temp did not.
	y := time.Now().UTC().Truncate(24 * time.Hour).Add(-12 * time.Hour).UnixNano()
	for i := range 10 {
		fmt.Fprintf(&b, "ui,slot=s%02d many=1 %d\n", i, y)
	}
	fmt.Fprintf(&b, "ui,room=a temp=1 %d\nui,room=b temp=1 %d\n", y, y)
	writeLines(t, p, "ui", b.String())
}

// TestUIInChromium drives the web UI in headless Chromium against a real
// server: every page loads without console errors, a typed query is
// completed from the API and drawn (canvas not blank, legend names the
// seeded series), the cardinality page ranks the seeded metrics, a shared
// URL restores the view, and every control is labelled and reachable by
// keyboard. Screenshots go to the artifact directory (go test -artifacts).
func TestUIInChromium(t *testing.T) {
	p := startServer(t, t.TempDir())
	defer p.stop()
	seedUI(t, p)
	b := newBrowser(t)
	base := p.url("/")

	// Every page loads and shows its content.
	for _, c := range []struct{ hash, ready string }{
		{"#/query", `document.querySelector("#q") !== null`},
		{"#/cardinality", `document.querySelectorAll("#top-metrics tbody tr").length > 0`},
		{"#/ingestion", `document.querySelectorAll("#ing-protocols tr").length > 0 && document.querySelectorAll("#disk-table, #disk .error").length > 0`},
		{"#/settings", `document.querySelector("#config") && document.querySelector("#config").textContent.includes("data_dir")`},
	} {
		b.do(t, "load "+c.hash, chromedp.Navigate(base+c.hash), waitJS(c.ready))
		b.screenshot(t, strings.TrimPrefix(c.hash, "#/"))
	}

	// Type part of a metric name: the completion offers the seeded metric;
	// Enter takes it, Enter runs the query, the chart is drawn.
	b.do(t, "type a query", chromedp.Navigate(base+"#/query"), chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "ui_te"),
		waitJS(`[...document.querySelectorAll("#ac li")].some(li => li.textContent === "ui_temp")`))
	b.do(t, "accept", pressKey("Enter", "\r", 13), waitJS(`document.querySelector("#q").value === "ui_temp"`))
	b.do(t, "run", pressKey("Enter", "\r", 13),
		waitJS(`document.querySelector(".u-legend") && document.querySelector(".u-legend").textContent.includes('ui_temp{db="ui", room="a"}') && document.querySelector(".u-legend").textContent.includes('room="b"')`))
	inked := eval[int](t, b, `(() => { const c = document.querySelector(".chart canvas"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`)
	if inked < 500 {
		t.Errorf("the chart canvas has %d drawn pixels: blank", inked)
	}
	b.screenshot(t, "query-graph")

	// The view lives in the URL: switch to stacked and the table, reload
	// the URL in a fresh page, the same view comes back.
	b.do(t, "stacked, table", chromedp.Click(chromedp.CSS("#stacked")), chromedp.Click(chromedp.CSS("#tab-table")),
		waitJS(`document.querySelectorAll("#result table tbody tr").length === 2`))
	shared := eval[string](t, b, `location.href`)
	if !strings.Contains(shared, "q=ui_temp") || !strings.Contains(shared, "tab=table") || !strings.Contains(shared, "stacked=1") {
		t.Fatalf("shared URL %s lacks the view", shared)
	}
	b.do(t, "open the shared URL", chromedp.Navigate("about:blank"), chromedp.Navigate(shared),
		waitJS(`document.querySelector("#q").value === "ui_temp" && document.querySelector("#stacked").checked && document.querySelector("#tab-table").getAttribute("aria-selected") === "true" && document.querySelectorAll("#result table tbody tr").length === 2`))

	// A syntax error is shown inline.
	b.do(t, "inline syntax error", chromedp.Navigate(base+"#/query"), chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "sum(ui_temp"),
		waitJS(`document.querySelector("#lint .error") !== null && document.querySelector("#q").getAttribute("aria-invalid") === "true"`))

	// The cardinality page ranks the seeded metrics by series count.
	b.do(t, "cardinality order", chromedp.Navigate(base+"#/cardinality"), waitJS(`document.querySelectorAll("#top-metrics tbody tr").length >= 3`))
	order := eval[[]string](t, b, `[...document.querySelectorAll("#top-metrics tbody tr td:first-child")].map(td => td.textContent)`)
	many, temp, one := slices.Index(order, "ui_many"), slices.Index(order, "ui_temp"), slices.Index(order, "ui_one")
	if many < 0 || temp < 0 || one < 0 || !(many < temp && temp < one) {
		t.Errorf("cardinality order %v: want ui_many (30 series) before ui_temp (2) before ui_one (1)", order)
	}
	growth := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll("#top-metrics tbody tr")].map(tr => [tr.cells[0].textContent, tr.cells[2].textContent + (tr.classList.contains("grew") ? " grew" : "")]))`)
	// Just after midnight UTC the last hour's points are partly yesterday's.
	if time.Now().UTC().Sub(time.Now().UTC().Truncate(24*time.Hour)) > 2*time.Hour {
		if growth["ui_many"] != "▲ +20 grew" || growth["ui_temp"] != "" || growth["ui_one"] != "▲ +1 grew" {
			t.Errorf("growth today against yesterday: %v; want ui_many +20 and marked, ui_temp unchanged, ui_one +1", growth)
		}
	}
	b.do(t, "drill down", chromedp.Click(chromedp.CSS(`button[aria-label="Drill down into ui_many"]`)),
		waitJS(`document.querySelector("#drill-table") && document.querySelector("#drill-table").textContent.includes("slot")`))
	b.screenshot(t, "cardinality-drill")

	// Accessibility: every control has a name; Tab reaches the query
	// editor and the Run button.
	b.do(t, "labels", chromedp.Navigate(base+"#/query"), chromedp.WaitVisible(chromedp.CSS("#q")))
	unnamed := eval[[]string](t, b, `[...document.querySelectorAll("input, select, textarea, button")].filter(el => {
			if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.closest("label") || (el.id && document.querySelector('label[for="' + el.id + '"]'))) return false;
			return !(el.textContent || "").trim();
		}).map(el => el.outerHTML.slice(0, 80))`)
	if len(unnamed) > 0 {
		t.Errorf("controls without a label: %v", unnamed)
	}
	var focused []string
	eval[any](t, b, `document.activeElement.blur()`)
	for range 16 {
		b.do(t, "tab", pressKey("Tab", "", 9))
		focused = append(focused, eval[string](t, b, `document.activeElement.id || document.activeElement.tagName + ":" + (document.activeElement.textContent || "").trim()`))
	}
	for _, want := range []string{"q", "range", "step", "run"} {
		if !slices.Contains(focused, want) {
			t.Errorf("Tab never reached #%s: focus went %v", want, focused)
		}
	}

	// The one error expected: the inline syntax check's 400 from
	// format_query for the broken query typed above (Chrome logs every
	// 4xx response).
	errs := slices.DeleteFunc(b.errs(), func(e string) bool {
		return strings.Contains(e, "status of 400") && strings.HasSuffix(e, "/api/v1/format_query")
	})
	if len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestStatusConfigMasksSecrets: the UI's settings page reads the
// effective configuration, with every secret masked and a token needed.
func TestStatusConfigMasksSecrets(t *testing.T) {
	p := startServer(t, t.TempDir(), "--auth-tokens", "s3cret-token-value")
	defer p.stop()
	req, _ := http.NewRequest(http.MethodGet, p.url("/api/v1/status/config"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer s3cret-token-value")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Data   struct{ YAML string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" {
		t.Fatalf("config: %v %+v", err, out)
	}
	if strings.Contains(out.Data.YAML, "s3cret") || !strings.Contains(out.Data.YAML, "tokens: <secret>") ||
		!strings.Contains(out.Data.YAML, "data_dir: ") {
		t.Fatalf("config not masked or incomplete:\n%s", out.Data.YAML)
	}
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/segmentio/kafka-go"

	"github.com/vehicle-stats/vehicle-stats/internal/contracttest"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv"
	"github.com/vehicle-stats/vehicle-stats/internal/testenv/proc"
	"github.com/vehicle-stats/vehicle-stats/pkg/model"
)

// The end-to-end test of the page runs the real stats-processor binary
// against the real Kafka and Redis (as services/stats-processor's own e2e
// tests do), feeds it known vehicles, and drives headless Chromium.

// chromiumPath is Debian's chromium; `make test-integration` installs it.
const chromiumPath = "/usr/bin/chromium"

// pipe is one pipeline under test: private topics and key prefix, one
// processor instance.
type pipe struct {
	env    testenv.Services
	input  string
	addr   string
	proc   *proc.Service
	ooo    time.Duration
	window time.Duration
}

func startPipe(t *testing.T, partitions int) *pipe {
	t.Helper()
	env := testenv.Get(t)
	cfg := env.E2EProcessor(t, "live", partitions)
	proc := proc.StartProcessor(t, "live", cfg)
	p := &pipe{env: env, input: cfg.Input, addr: proc.Addr, proc: proc, ooo: cfg.MaxOutOfOrderness, window: cfg.Window}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("processor not ready after 60 s\n%s", proc.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM; with a page still connected it must exit 0 promptly.
func (p *pipe) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := p.proc.Stop(10 * time.Second); err != nil {
		t.Errorf("with the page connected: %v", err)
		return
	}
	t.Logf("processor stopped in %s with the page connected", time.Since(start).Round(time.Millisecond))
}

var typeWeights = []struct {
	typ    model.VehicleType
	weight int
}{{model.Car, 70}, {model.Truck, 12}, {model.Van, 9}, {model.Bus, 5}, {model.Motorcycle, 4}}

func pickType(rng *rand.Rand) model.VehicleType {
	n := rng.IntN(100)
	for _, tw := range typeWeights {
		if n < tw.weight {
			return tw.typ
		}
		n -= tw.weight
	}
	return model.Car
}

func newVehicle(partition, i int, eventTime int64, typ model.VehicleType) contracttest.Record {
	return contracttest.NewRecord(partition, fmt.Sprintf("CA%04dP%d", i%10000, partition), i, eventTime, typ, contracttest.RFC3339Offset)
}

// history is a deterministic past: per partition, events from `from` to `to`
// (epoch ms) a few hundred ms apart, with some bad records and some far-back
// (late) events.
func history(seed uint64, partitions int, from, to int64) []contracttest.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []contracttest.Record
	for p := range partitions {
		tm := from + int64(rng.IntN(500))
		for i := 0; tm < to; i++ {
			switch {
			case i%170 == 169:
				bad := contracttest.BadValues[i%len(contracttest.BadValues)]
				out = append(out, contracttest.Record{Partition: p, Key: fmt.Sprintf("BAD%d-%d", p, i), Value: []byte(bad), Bad: true})
			case i%230 == 229:
				out = append(out, newVehicle(p, i, tm-45_000, pickType(rng)))
			default:
				out = append(out, newVehicle(p, i, tm, pickType(rng)))
			}
			tm += 120 + int64(rng.IntN(360))
		}
	}
	return out
}

// windowCounts is the contract's result for the records in partition order
// (contracttest's oracle): counts by window start and type name.
func windowCounts(recs []contracttest.Record, window, ooo time.Duration) (counts map[int64]map[string]int64, late, bad int) {
	byKey, late, bad := contracttest.ExpectedRecords([][]contracttest.Record{recs}, window, ooo)
	counts = map[int64]map[string]int64{}
	for k, n := range byKey {
		if counts[k.Start] == nil {
			counts[k.Start] = map[string]int64{}
		}
		counts[k.Start][k.Type.String()] = n
	}
	return counts, late, bad
}

// producer writes vehicles to their partitions in order and remembers them.
type producer struct {
	w    *kafka.Writer
	mu   sync.Mutex
	sent []contracttest.Record
}

func newProducer(p *pipe) *producer {
	return &producer{w: &kafka.Writer{
		Addr: kafka.TCP(p.env.Brokers...), Topic: p.input, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			n, _ := strconv.Atoi(string(m.Headers[0].Value))
			return n
		}),
		BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, MaxAttempts: 10,
	}}
}

func (pr *producer) send(ctx context.Context, recs []contracttest.Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.Key), Value: r.Value,
			Headers: []kafka.Header{{Key: "p", Value: []byte(strconv.Itoa(r.Partition))}}}
	}
	if err := pr.w.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	pr.mu.Lock()
	pr.sent = append(pr.sent, recs...)
	pr.mu.Unlock()
	return nil
}

// live sends a few vehicles stamped with the wall clock every 100 ms until
// ctx ends, like a camera feed.
func (pr *producer) live(ctx context.Context, partitions int) error {
	rng := rand.New(rand.NewPCG(42, 42))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var batch []contracttest.Record
		for j := range 1 + rng.IntN(3) {
			batch = append(batch, newVehicle((i+j)%partitions, 5000+i*4+j, time.Now().UnixMilli(), pickType(rng)))
		}
		if err := pr.send(context.WithoutCancel(ctx), batch); err != nil {
			return err
		}
	}
}

func (pr *producer) records() []contracttest.Record {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return append([]contracttest.Record(nil), pr.sent...)
}

// statsWindow is a window as /stats and the page's table both describe it.
type statsWindow struct {
	Start  string           `json:"start"`
	End    string           `json:"end"`
	Closed bool             `json:"closed"`
	Counts map[string]int64 `json:"counts"`
	Total  int64            `json:"total"`
}

func (w statsWindow) String() string {
	return fmt.Sprintf("%s closed=%v total=%d %v", w.Start, w.Closed, w.Total, w.Counts)
}

func readStats(t *testing.T, addr string) []statsWindow {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Windows []statsWindow `json:"windows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Windows
}

// browser is one headless Chromium tab; errs collects the page's uncaught
// exceptions, console errors and refused loads.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s is missing (apt-get install chromium; `make test-integration` installs it when run as root)", chromiumPath)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("uncaught: %s %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	}))
	b.ctx = ctx
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Refused loads (the Content-Security-Policy, a missing file) are not
	// exceptions; the page records them for the test to read.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.__refused = [];
			document.addEventListener('securitypolicyviolation', e => window.__refused.push(e.violatedDirective + ' ' + e.blockedURI));
			window.addEventListener('error', e => { if (e.target && e.target !== window) window.__refused.push('load ' + (e.target.src || e.target.href)); }, true);`})
		return err
	}))
	if err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return b
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// eval runs a JavaScript expression and decodes its result into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it holds or d passes.
func waitJS(t *testing.T, b *browser, what, cond string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !eval[bool](t, b, cond) {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s within %s (errors: %v)", what, d, b.errors())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pageWindows is the window table as the page shows it: the raw numbers
// from the rows' data attributes, and the digits of each visible total.
const pageWindows = `[...document.querySelectorAll('#windows tbody tr[data-start]')].map(tr => ({
	start: tr.dataset.start, end: tr.dataset.end, closed: tr.dataset.closed === 'true',
	total: Number(tr.dataset.total), counts: JSON.parse(tr.dataset.counts),
	shown: tr.querySelector('td.total').textContent.replace(/\D/g, '')}))`

type shownWindow struct {
	statsWindow
	Shown string `json:"shown"`
}

// setDark switches the page to the dark colour scheme (or back).
func setDark(t *testing.T, b *browser, dark bool) {
	t.Helper()
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// screenshot saves the viewport (or the whole page) as a PNG under
// out/screenshots/ and returns its path.
func screenshot(t *testing.T, b *browser, name string, width, height int64, full bool) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "out", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var opts []chromedp.EmulateViewportOption
	if width < 700 {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, height, opts...), chromedp.Sleep(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d KB)", path, len(png)/1024)
	return path
}

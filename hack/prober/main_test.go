package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the prober itself when a test starts this binary as the prober.
func TestMain(m *testing.M) {
	if os.Getenv("PROBER_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// table is testdata/success-codes.json, which tests/unit/test_success_codes.py runs against the API.
type table struct {
	Valid []struct {
		Codes     string
		Healthy   []int
		Unhealthy []int
	}
	Invalid []string
}

func readTable(t *testing.T) table {
	data, err := os.ReadFile("testdata/success-codes.json")
	if err != nil {
		t.Fatal(err)
	}
	var tab table
	if err := json.Unmarshal(data, &tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestSuccessCodesAsTheAPIAcceptsThem(t *testing.T) {
	tab := readTable(t)
	for _, row := range tab.Valid {
		codes, err := parseSuccessCodes(row.Codes)
		if err != nil {
			t.Errorf("%q is refused: %v", row.Codes, err)
			continue
		}
		for _, code := range row.Healthy {
			if !codes.match(code) {
				t.Errorf("%q: %d counts as unhealthy", row.Codes, code)
			}
		}
		for _, code := range row.Unhealthy {
			if codes.match(code) {
				t.Errorf("%q: %d counts as healthy", row.Codes, code)
			}
		}
	}
	for _, text := range tab.Invalid {
		if _, err := parseSuccessCodes(text); err == nil {
			t.Errorf("%q is accepted", text)
		}
	}
}

func TestVerdictFollowsTheThresholds(t *testing.T) {
	v := &verdict{healthyThreshold: 3, unhealthyThreshold: 2}
	// Each step: a check's result, and the verdict after it.
	steps := []struct{ ok, healthy bool }{
		{true, false}, {true, false}, {false, false}, // a failure restarts the count
		{true, false}, {true, false}, {true, true}, // three in a row
		{false, true}, {true, true}, {false, true}, // single failures change nothing
		{false, false}, // two in a row
		{true, false}, {true, false}, {true, true},
	}
	for i, step := range steps {
		changed := v.record(step.ok, fmt.Sprint("check ", i))
		healthy, text := v.describe()
		if healthy != step.healthy {
			t.Fatalf("after check %d (ok=%v): %s, want healthy=%v", i, step.ok, text, step.healthy)
		}
		if wasHealthy := i > 0 && steps[i-1].healthy; changed != (wasHealthy != step.healthy) {
			t.Errorf("after check %d: changed=%v", i, changed)
		}
	}
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	for args, flag := range map[string]string{
		"-port=0":                           "-port",
		"-port=8080 -scheme=ftp":            "-scheme",
		"-port=8080 -path=healthz":          "-path",
		"-port=8080 -interval=0":            "-interval",
		"-port=8080 -timeout=-1":            "-timeout",
		"-port=8080 -success-codes=500":     "-success-codes",
		"-port=8080 -healthy-threshold=0":   "-healthy-threshold",
		"-port=8080 -unhealthy-threshold=0": "-unhealthy-threshold",
	} {
		_, err := parseConfig(strings.Fields(args), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), flag+":") {
			t.Errorf("%s: error %v, want one naming %s", args, err, flag)
		}
	}
	cfg, err := parseConfig(strings.Fields("-scheme=https -host=10.1.2.3 -port=8443 -path=/h?x=1"), io.Discard)
	if err != nil || cfg.endpoint != "https://10.1.2.3:8443" || cfg.path != "/h?x=1" {
		t.Errorf("endpoint %q, path %q, error %v", cfg.endpoint, cfg.path, err)
	}
}

// endpoint is an application whose health answer the test sets; each request counts.
type endpoint struct {
	status   atomic.Int64
	delay    atomic.Int64 // nanoseconds
	requests atomic.Int64
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	time.Sleep(time.Duration(e.delay.Load()))
	if r.URL.Path != "/healthz" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if e.status.Load() == http.StatusFound {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(int(e.status.Load()))
}

// logged is a log the test reads while the prober writes it.
type logged struct {
	mu   sync.Mutex
	text bytes.Buffer
}

func (l *logged) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.Write(p)
}

// probe runs the prober's check loop against endpoint+path with a short interval; it stops at
// cleanup.
func probe(t *testing.T, endpoint, path, codes string, healthy, unhealthy int) (*verdict, *logged) {
	t.Helper()
	cfg := config{endpoint: endpoint, path: path, interval: 20 * time.Millisecond,
		timeout: 200 * time.Millisecond, healthyThreshold: healthy, unhealthyThreshold: unhealthy}
	var err error
	if cfg.codes, err = parseSuccessCodes(codes); err != nil {
		t.Fatal(err)
	}
	v := &verdict{healthyThreshold: healthy, unhealthyThreshold: unhealthy}
	out := &logged{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { watch(cfg, v, log.New(out, "", 0), stop); close(done) }()
	t.Cleanup(func() { close(stop); <-done })
	return v, out
}

func waitVerdict(t *testing.T, v *verdict, want bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		healthy, text := v.describe()
		if healthy == want {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verdict stays %q, want healthy=%v", text, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTheCodesListedDecide(t *testing.T) {
	for _, c := range []struct {
		codes   string
		status  int
		healthy bool
	}{
		{"200-499", 404, true}, {"200-499", 401, true}, {"200-499", 500, false},
		{"200", 200, true}, {"200", 302, false}, {"200,300-399", 302, true}, {"200,300-399", 204, false},
	} {
		t.Run(fmt.Sprintf("%s answering %d", c.codes, c.status), func(t *testing.T) {
			app := &endpoint{}
			app.status.Store(int64(c.status))
			server := httptest.NewServer(app)
			defer server.Close()
			v, _ := probe(t, server.URL, "/healthz", c.codes, 2, 2)
			// Enough checks to pass the threshold either way, then the verdict.
			for app.requests.Load() < 4 {
				time.Sleep(10 * time.Millisecond)
			}
			if healthy, text := v.describe(); healthy != c.healthy {
				t.Errorf("%s", text)
			}
		})
	}
}

func TestHealthChangesMoveTheVerdictBothWays(t *testing.T) {
	app := &endpoint{}
	app.status.Store(500)
	server := httptest.NewServer(app)
	defer server.Close()
	v, out := probe(t, server.URL, "/healthz", "200-499", 3, 2)
	waitVerdict(t, v, false)
	app.status.Store(404)
	waitVerdict(t, v, true)
	app.status.Store(503)
	text := waitVerdict(t, v, false)
	if !strings.Contains(text, "answered 503, not a success code") {
		t.Errorf("the verdict does not say why: %q", text)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if log := out.text.String(); !strings.Contains(log, "healthy: 3 consecutive successes") ||
		!strings.Contains(log, "unhealthy: 2 consecutive failures") {
		t.Errorf("the log does not show the changes:\n%s", log)
	}
}

func TestHTTPSWithASelfSignedCertificateIsChecked(t *testing.T) {
	app := &endpoint{}
	app.status.Store(200)
	server := httptest.NewTLSServer(app)
	defer server.Close()
	v, _ := probe(t, server.URL, "/healthz", "200", 2, 2)
	waitVerdict(t, v, true)
}

func TestATimeoutIsAFailure(t *testing.T) {
	app := &endpoint{}
	app.status.Store(200)
	server := httptest.NewServer(app)
	defer server.Close()
	v, _ := probe(t, server.URL, "/healthz", "200-499", 2, 2)
	waitVerdict(t, v, true)
	app.delay.Store(int64(time.Second)) // the probe's timeout is 200 ms
	text := waitVerdict(t, v, false)
	if !strings.Contains(text, "Timeout") {
		t.Errorf("the verdict does not name the timeout: %q", text)
	}
	app.delay.Store(0)
	waitVerdict(t, v, true)
}

func TestARefusedConnectionIsAFailure(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	v, _ := probe(t, "http://"+address, "/healthz", "200-499", 2, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, text := v.describe(); strings.Contains(text, "connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no check failed with connection refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if healthy, text := v.describe(); healthy {
		t.Errorf("healthy with nothing listening: %s", text)
	}
}

func TestTheVerdictIsServedForTheKubelet(t *testing.T) {
	v := &verdict{healthyThreshold: 2, unhealthyThreshold: 2}
	server := httptest.NewServer(v)
	defer server.Close()
	status := func() int {
		response, err := http.Get(server.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		return response.StatusCode
	}
	if got := status(); got != 503 {
		t.Errorf("before any check: %d, want 503", got)
	}
	v.record(true, "GET answered 200")
	v.record(true, "GET answered 200")
	if got := status(); got != 200 {
		t.Errorf("healthy: %d, want 200", got)
	}
}

func TestTheProgramServesItsVerdictAndStopsOnSIGTERM(t *testing.T) {
	app := &endpoint{}
	app.status.Store(401)
	server := httptest.NewServer(app)
	defer server.Close()
	_, port, _ := net.SplitHostPort(server.Listener.Addr().String())
	cmd := exec.Command(os.Args[0], "-host=127.0.0.1", "-port="+port, "-path=/healthz",
		"-interval=1", "-listen=127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PROBER_RUN_MAIN=1")
	out := &logged{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	verdictURL := ""
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.mu.Lock()
		text := out.text.String()
		out.mu.Unlock()
		if _, after, found := strings.Cut(text, "verdict on "); found && verdictURL == "" {
			verdictURL = "http://" + strings.Fields(after)[0] + "/"
		}
		if verdictURL != "" {
			if response, err := http.Get(verdictURL); err == nil {
				response.Body.Close()
				if response.StatusCode == 200 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verdict never became healthy:\n%s", text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}

func TestThePathIsSentAsWritten(t *testing.T) {
	// A bare server: Go's own would refuse the stray % before a handler could see it.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	lines := make(chan string, 100)
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(conn).ReadString('\n')
			lines <- line
			fmt.Fprint(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			conn.Close()
		}
	}()
	path := "/health%zz/a+b?x=%41&y=$(HOME)#part"
	v, _ := probe(t, "http://"+listener.Addr().String(), path, "200", 2, 2)
	waitVerdict(t, v, true)
	if line := <-lines; line != "GET "+path+" HTTP/1.1\r\n" {
		t.Errorf("the request line is %q, want the path %q as written", line, path)
	}
}

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the program itself when a test starts this binary as the application.
func TestMain(m *testing.M) {
	if os.Getenv("TESTAPP_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// client accepts the self-signed certificate and shows redirects as they are.
var client = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// lines is a log the tests read while the application writes it.
type lines struct {
	mu   sync.Mutex
	text bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// waitFor polls the log until it holds text.
func (l *lines) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never showed %q:\n%s", text, l.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start serves the handler in this process on 127.0.0.1, on free ports in the order of PORTS.
func start(t *testing.T, env map[string]string) ([]string, *lines) {
	t.Helper()
	env["LISTEN_HOST"] = "127.0.0.1"
	if env["PORTS"] == "" {
		env["PORTS"] = "0/http"
	}
	cfg, err := loadConfig(func(name string) string { return env[name] }, []string{"serve", "--flag=x y"})
	if err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	state := &health{status: cfg.healthStatus, delay: cfg.healthDelay, readyAt: time.Now().Add(cfg.readyAfter)}
	s, err := listen(cfg, newHandler(cfg, state, log.New(out, "", 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	for _, serve := range s.serves {
		go serve()
	}
	return s.addresses, out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	response, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return response.StatusCode, string(body)
}

func post(t *testing.T, url string) int {
	t.Helper()
	response, err := client.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	return response.StatusCode
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var value map[string]any
	if err := json.Unmarshal([]byte(body), &value); err != nil {
		t.Fatalf("not a JSON object: %q", body)
	}
	return value
}

func TestRootDescribesTheRunningCopyOnEveryHTTPPort(t *testing.T) {
	addresses, _ := start(t, map[string]string{"PORTS": "0/http,0/https", "CONTAINER_NAME": "web"})
	hostname, _ := os.Hostname()
	for _, url := range []string{"http://" + addresses[0] + "/", "https://" + addresses[1] + "/"} {
		status, body := get(t, url)
		want := fmt.Sprintf(`{"app":"testapp","version":"dev","pod":%q,"container":"web","args":["serve","--flag=x y"]}`, hostname)
		if status != 200 || !jsonEqual(body, want) {
			t.Errorf("GET %s = %d %s, want 200 %s", url, status, body, want)
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil &&
		reflect.DeepEqual(x, y)
}

func TestEnvShowsTheEnvironment(t *testing.T) {
	t.Setenv("TESTAPP_SAMPLE", "a=b")
	addresses, _ := start(t, map[string]string{})
	status, body := get(t, "http://"+addresses[0]+"/env")
	if value := decode(t, body)["TESTAPP_SAMPLE"]; status != 200 || value != "a=b" {
		t.Errorf("GET /env = %d with TESTAPP_SAMPLE %v, want 200 with a=b", status, value)
	}
}

func TestStatusAnswersTheCodeAsked(t *testing.T) {
	addresses, out := start(t, map[string]string{})
	for path, want := range map[string]int{"/status/201": 201, "/status/302": 302, "/status/404": 404,
		"/status/503": 503, "/status/abc": 400, "/status/99": 400, "/nothing": 404} {
		if status, _ := get(t, "http://"+addresses[0]+path); status != want {
			t.Errorf("GET %s = %d, want %d", path, status, want)
		}
		out.waitFor(t, fmt.Sprintf("GET %s %d from 127.0.0.1:", path, want))
	}
}

func TestHealthPathAnswersTheConfiguredThenThePostedStatus(t *testing.T) {
	addresses, _ := start(t, map[string]string{"HEALTH_PATH": "/ready", "HEALTH_STATUS": "404"})
	base := "http://" + addresses[0]
	if status, _ := get(t, base+"/ready"); status != 404 {
		t.Errorf("HEALTH_STATUS=404: the health path answered %d", status)
	}
	for _, code := range []int{500, 302, 200} {
		if status := post(t, fmt.Sprintf("%s/health/%d", base, code)); status != 200 {
			t.Fatalf("POST /health/%d = %d", code, status)
		}
		if status, _ := get(t, base+"/ready"); status != code {
			t.Errorf("after POST /health/%d the health path answered %d", code, status)
		}
	}
	if status := post(t, base+"/health/abc"); status != 400 {
		t.Errorf("POST /health/abc = %d, want 400", status)
	}
}

func TestHealthPathAnswers503UntilReadyAfterSeconds(t *testing.T) {
	addresses, _ := start(t, map[string]string{"READY_AFTER_SECONDS": "1"})
	url := "http://" + addresses[0] + "/healthz"
	if status, _ := get(t, url); status != 503 {
		t.Fatalf("before READY_AFTER_SECONDS the health path answered %d, want 503", status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status, _ := get(t, url); status != 200; status, _ = get(t, url) {
		if time.Now().After(deadline) {
			t.Fatalf("the health path still answers %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHealthPathCanBeSlow(t *testing.T) {
	addresses, _ := start(t, map[string]string{"HEALTH_DELAY_SECONDS": "30"})
	base := "http://" + addresses[0]
	impatient := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := impatient.Get(base + "/healthz"); err == nil {
		t.Error("HEALTH_DELAY_SECONDS=30: the health path answered within 300 ms")
	}
	post(t, base+"/health/200?delay=0")
	if response, err := impatient.Get(base + "/healthz"); err != nil || response.StatusCode != 200 {
		t.Errorf("after POST /health/200?delay=0: %v", err)
	}
	post(t, base+"/health/200?delay=30s")
	if _, err := impatient.Get(base + "/healthz"); err == nil {
		t.Error("after POST /health/200?delay=30s the health path answered within 300 ms")
	}
}

func TestPeerFetchesAnotherURL(t *testing.T) {
	addresses, _ := start(t, map[string]string{"PORTS": "0/http,0/https,0/tcp"})
	base := "http://" + addresses[0]
	cases := map[string]string{
		"http://" + addresses[0] + "/status/418": `{"status":418,"body":""}`,
		"https://" + addresses[1] + "/env":       `{"status":200}`,
		"http://" + addresses[0] + "/status/302": `{"status":302,"body":""}`,
	}
	for url, want := range cases {
		status, body := get(t, base+"/peer?url="+url)
		got := decode(t, body)
		for key, value := range decode(t, want) {
			if status != 200 || got[key] != value {
				t.Errorf("GET /peer?url=%s = %d %s, want 200 with %s", url, status, body, want)
			}
		}
	}
	closed := freePort(t)
	if status, body := get(t, base+"/peer?url=http://"+closed+"/"); status != 502 {
		t.Errorf("a peer that refuses the connection: %d %s, want 502", status, body)
	}
	if status, _ := get(t, base+"/peer"); status != 400 {
		t.Errorf("GET /peer without url = %d, want 400", status)
	}
}

// freePort is an address nothing listens on.
func freePort(t *testing.T) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

func TestTCPAndUDPPortsEcho(t *testing.T) {
	addresses, _ := start(t, map[string]string{"PORTS": "0/tcp,0/udp"})
	for i, network := range []string{"tcp", "udp"} {
		conn, err := net.DialTimeout(network, addresses[i], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte("ping " + network))
		answer := make([]byte, 64)
		n, err := conn.Read(answer)
		if err != nil || string(answer[:n]) != "ping "+network {
			t.Errorf("%s echo answered %q, %v", network, answer[:n], err)
		}
	}
}

func TestBadSettingsNameTheVariable(t *testing.T) {
	for env, variable := range map[string]string{
		"PORTS=8080":             "PORTS",
		"PORTS=8080/sctp":        "PORTS",
		"PORTS=70000/http":       "PORTS",
		"HEALTH_STATUS=abc":      "HEALTH_STATUS",
		"HEALTH_STATUS=700":      "HEALTH_STATUS",
		"HEALTH_PATH=healthz":    "HEALTH_PATH",
		"READY_AFTER_SECONDS=-1": "READY_AFTER_SECONDS",
		"DRAIN_SECONDS=soon":     "DRAIN_SECONDS",
	} {
		name, value, _ := strings.Cut(env, "=")
		_, err := loadConfig(func(n string) string { return map[string]string{name: value}[n] }, nil)
		if err == nil || !strings.HasPrefix(err.Error(), variable+":") {
			t.Errorf("%s: error %v, want one naming %s", env, err, variable)
		}
	}
}

// process is the application run as its own process (this test binary, see TestMain).
type process struct {
	cmd *exec.Cmd
	out *lines
}

func runProcess(t *testing.T, env ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "hello", "--name=world")
	cmd.Env = append(os.Environ(), append(env, "TESTAPP_RUN_MAIN=1", "LISTEN_HOST=127.0.0.1")...)
	p := &process{cmd: cmd, out: &lines{}}
	cmd.Stderr = p.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			fmt.Fprintln(p.out, scanner.Text())
		}
	}()
	return p
}

// address is where the process listens on its first port, read from its log.
func (p *process) address(t *testing.T) string {
	p.out.waitFor(t, "listening on ")
	line := strings.SplitN(p.out.String(), "listening on ", 2)[1]
	return strings.SplitN(line, "/", 2)[0]
}

func (p *process) exitCode(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("the application did not exit:\n%s", p.out.String())
		return -1
	}
}

func TestStartPrintsTheArgumentsAndTicks(t *testing.T) {
	p := runProcess(t, "PORTS=0/http", "LOG_EVERY_SECONDS=0.1")
	p.out.waitFor(t, `args: ["hello","--name=world"]`)
	p.out.waitFor(t, "\ntick 1\n")
	p.out.waitFor(t, "\ntick 2\n")
}

func TestCrashAfterSecondsExitsWithOne(t *testing.T) {
	p := runProcess(t, "PORTS=0/http", "CRASH_AFTER_SECONDS=0.2")
	if code := p.exitCode(t); code != 1 {
		t.Errorf("exit code %d, want 1:\n%s", code, p.out.String())
	}
}

func TestSIGTERMDrainsThenExitsWithZero(t *testing.T) {
	p := runProcess(t, "PORTS=0/http", "DRAIN_SECONDS=2")
	url := "http://" + p.address(t) + "/"
	if status, _ := get(t, url); status != 200 {
		t.Fatalf("GET / = %d before SIGTERM", status)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.out.waitFor(t, "serving for DRAIN_SECONDS")
	if status, _ := get(t, url); status != 200 {
		t.Errorf("GET / = %d while draining", status)
	}
	if code := p.exitCode(t); code != 0 {
		t.Errorf("exit code %d after draining, want 0:\n%s", code, p.out.String())
	}
}

func TestBadSettingExitsWithTwo(t *testing.T) {
	p := runProcess(t, "PORTS=8080/sctp")
	if code := p.exitCode(t); code != 2 || !strings.Contains(p.out.String(), "PORTS:") {
		t.Errorf("exit code %d, want 2 and a message naming PORTS:\n%s", code, p.out.String())
	}
}

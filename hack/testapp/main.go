// Command testapp is the test application of the local cluster: the behaviour the tests read
// (its contract is in README.md) behind HTTP, HTTPS, TCP and UDP ports, driven by environment
// variables.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// version is the image tag the program reports; the image build stamps it with
// -ldflags "-X main.version=<tag>", so the tag cannot be changed by a pod's environment.
var version = "dev"

// port is one entry of PORTS.
type port struct {
	number   int
	protocol string // http, https, tcp or udp
}

// config is everything the environment and the arguments set.
type config struct {
	host         string // LISTEN_HOST: empty listens on every interface
	ports        []port
	healthPath   string
	healthStatus int
	healthDelay  time.Duration
	readyAfter   time.Duration
	crashAfter   time.Duration
	logEvery     time.Duration
	drain        time.Duration
	container    string
	args         []string
}

func loadConfig(getenv func(string) string, args []string) (config, error) {
	cfg := config{host: getenv("LISTEN_HOST"), container: getenv("CONTAINER_NAME"), args: args}
	if cfg.args == nil {
		cfg.args = []string{} // shown as [], not null
	}
	var err error
	if cfg.ports, err = parsePorts(valueOr(getenv("PORTS"), "8080/http")); err != nil {
		return cfg, fmt.Errorf("PORTS: %w", err)
	}
	cfg.healthPath = valueOr(getenv("HEALTH_PATH"), "/healthz")
	if !strings.HasPrefix(cfg.healthPath, "/") {
		return cfg, fmt.Errorf("HEALTH_PATH: %q does not start with /", cfg.healthPath)
	}
	if cfg.healthStatus, err = parseStatus(valueOr(getenv("HEALTH_STATUS"), "200")); err != nil {
		return cfg, fmt.Errorf("HEALTH_STATUS: %w", err)
	}
	for name, target := range map[string]*time.Duration{
		"HEALTH_DELAY_SECONDS": &cfg.healthDelay,
		"READY_AFTER_SECONDS":  &cfg.readyAfter,
		"CRASH_AFTER_SECONDS":  &cfg.crashAfter,
		"LOG_EVERY_SECONDS":    &cfg.logEvery,
		"DRAIN_SECONDS":        &cfg.drain,
	} {
		if *target, err = parseSeconds(getenv(name)); err != nil {
			return cfg, fmt.Errorf("%s: %w", name, err)
		}
	}
	return cfg, nil
}

func valueOr(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

func parsePorts(text string) ([]port, error) {
	var ports []port
	for _, item := range strings.Split(text, ",") {
		number, protocol, found := strings.Cut(strings.TrimSpace(item), "/")
		n, err := strconv.Atoi(number)
		if !found || err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%q is not <port>/<http|https|tcp|udp>", item)
		}
		switch protocol {
		case "http", "https", "tcp", "udp":
			ports = append(ports, port{n, protocol})
		default:
			return nil, fmt.Errorf("%q: protocol %q is not http, https, tcp or udp", item, protocol)
		}
	}
	return ports, nil
}

func parseStatus(text string) (int, error) {
	code, err := strconv.Atoi(text)
	if err != nil || code < 200 || code > 599 {
		return 0, fmt.Errorf("%q is not an HTTP status code from 200 to 599", text)
	}
	return code, nil
}

// parseSeconds reads a number of seconds ("" is 0) or a Go duration such as "1.5s".
func parseSeconds(text string) (time.Duration, error) {
	if text == "" {
		return 0, nil
	}
	if seconds, err := strconv.ParseFloat(text, 64); err == nil && seconds >= 0 {
		return time.Duration(seconds * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(text); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a number of seconds", text)
}

// health is the answer of the health path, which POST /health/<code> changes at run time.
type health struct {
	mu      sync.Mutex
	status  int
	delay   time.Duration
	readyAt time.Time
}

func (h *health) set(status int, delay time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status, h.delay = status, delay
}

// answer is the status the health path gives now, and how long it waits before giving it.
func (h *health) answer(now time.Time) (int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Before(h.readyAt) {
		return http.StatusServiceUnavailable, h.delay
	}
	return h.status, h.delay
}

// servers are the open ports: their addresses in the order of PORTS, how to serve and close them.
type servers struct {
	addresses []string
	serves    []func()
	closers   []io.Closer
}

func (s *servers) add(address net.Addr, serve func(), closer io.Closer) {
	s.addresses = append(s.addresses, address.String())
	s.serves = append(s.serves, serve)
	s.closers = append(s.closers, closer)
}

func (s *servers) close() {
	for _, closer := range s.closers {
		closer.Close()
	}
}

func listen(cfg config, handler http.Handler) (*servers, error) {
	s := &servers{}
	var certificate *tls.Certificate
	for _, p := range cfg.ports {
		address := net.JoinHostPort(cfg.host, strconv.Itoa(p.number))
		if p.protocol == "udp" {
			conn, err := net.ListenPacket("udp", address)
			if err != nil {
				s.close()
				return nil, err
			}
			s.add(conn.LocalAddr(), func() { echoPackets(conn) }, conn)
			continue
		}
		listener, err := net.Listen("tcp", address)
		if err == nil && p.protocol == "https" && certificate == nil {
			certificate, err = selfSigned()
		}
		if err != nil {
			s.close()
			return nil, err
		}
		server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		switch p.protocol {
		case "tcp":
			s.add(listener.Addr(), func() { echoStream(listener) }, listener)
		case "https":
			tlsConfig := &tls.Config{Certificates: []tls.Certificate{*certificate}}
			s.add(listener.Addr(), func() { server.Serve(tls.NewListener(listener, tlsConfig)) }, listener)
		case "http":
			s.add(listener.Addr(), func() { server.Serve(listener) }, listener)
		}
	}
	return s, nil
}

func echoStream(listener net.Listener) {
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			io.Copy(conn, conn)
		}()
	}
}

func echoPackets(conn net.PacketConn) {
	buffer := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buffer)
		if err != nil {
			return
		}
		conn.WriteTo(buffer[:n], from)
	}
}

// selfSigned makes the certificate of the HTTPS ports at start: tests accept it unverified.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "testapp"},
		DNSNames:     []string{"localhost", hostname},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	out := log.New(os.Stdout, "", 0)
	cfg, err := loadConfig(os.Getenv, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(2)
	}
	os.Exit(run(cfg, out))
}

// run serves until SIGTERM (then drains and returns 0) or until CRASH_AFTER_SECONDS (exit 1).
func run(cfg config, out *log.Logger) int {
	args, _ := json.Marshal(cfg.args)
	out.Printf("testapp %s args: %s", version, args)
	state := &health{status: cfg.healthStatus, delay: cfg.healthDelay, readyAt: time.Now().Add(cfg.readyAfter)}
	s, err := listen(cfg, newHandler(cfg, state, out))
	if err != nil {
		out.Printf("cannot listen: %v", err)
		return 2
	}
	for i, address := range s.addresses {
		out.Printf("listening on %s/%s", address, cfg.ports[i].protocol)
		go s.serves[i]()
	}
	if cfg.logEvery > 0 {
		go tick(cfg.logEvery, out)
	}
	var crash <-chan time.Time // nil: never
	if cfg.crashAfter > 0 {
		crash = time.After(cfg.crashAfter)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-crash:
		out.Printf("crashing: CRASH_AFTER_SECONDS (%s) passed", cfg.crashAfter)
		return 1
	case sig := <-signals:
		out.Printf("%s: serving for DRAIN_SECONDS (%s), then exiting", sig, cfg.drain)
		time.Sleep(cfg.drain)
		out.Printf("exiting")
		return 0
	}
}

func tick(every time.Duration, out *log.Logger) {
	for n := 1; ; n++ {
		time.Sleep(every)
		out.Printf("tick %d", n)
	}
}

// newHandler answers every HTTP(S) port: the health path first, then the fixed routes.
func newHandler(cfg config, state *health, out *log.Logger) http.Handler {
	routes := http.NewServeMux()
	routes.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		hostname, _ := os.Hostname()
		writeJSON(w, http.StatusOK, struct {
			App       string   `json:"app"`
			Version   string   `json:"version"`
			Pod       string   `json:"pod"`
			Container string   `json:"container"`
			Args      []string `json:"args"`
		}{"testapp", version, hostname, cfg.container, cfg.args})
	})
	routes.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		environment := map[string]string{}
		for _, entry := range os.Environ() {
			name, value, _ := strings.Cut(entry, "=")
			environment[name] = value
		}
		writeJSON(w, http.StatusOK, environment)
	})
	routes.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := parseStatus(r.PathValue("code"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(code)
	})
	routes.HandleFunc("GET /peer", peer)
	routes.HandleFunc("POST /health/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := parseStatus(r.PathValue("code"))
		delay, delayErr := parseSeconds(r.URL.Query().Get("delay"))
		if err = errors.Join(err, delayErr); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		state.set(code, delay)
		writeJSON(w, http.StatusOK, map[string]any{"status": code, "delaySeconds": delay.Seconds()})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if r.URL.Path == cfg.healthPath {
			status, delay := state.answer(time.Now())
			time.Sleep(delay)
			recorder.WriteHeader(status)
		} else {
			routes.ServeHTTP(recorder, r)
		}
		out.Printf("%s %s %d from %s", r.Method, r.URL.RequestURI(), recorder.status, r.RemoteAddr)
	})
}

// peerClient accepts self-signed certificates and reports redirects as they are, unfollowed.
var peerClient = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// peer fetches ?url= and answers its status and body: 502 when it gives no answer at all.
func peer(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if target == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the url parameter is missing"})
		return
	}
	response, err := peerClient.Get(target)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": response.StatusCode, "body": string(body)})
}

func writeJSON(w http.ResponseWriter, status int, value any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	encoder := json.NewEncoder(w)
	encoder.SetEscapeHTML(false)
	encoder.Encode(value)
}

// statusRecorder keeps the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

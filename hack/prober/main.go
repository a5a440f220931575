// Command prober is the exact health check of a Lightship public endpoint. It runs beside the
// endpoint container in every pod (a native sidecar), checks the endpoint as the managed service
// does (path, interval, timeout, success codes, both thresholds) and serves its verdict on a
// port of its own, which the kubelet probes for the endpoint container's readiness: the
// kubelet's own httpGet probe counts 200-399 only, whatever codes the user listed.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The bounds of successCodes, as the API has them (MIN_SUCCESS_CODE, MAX_SUCCESS_CODE,
// MAX_SUCCESS_CODES_LENGTH): testdata/success-codes.json holds both sides to the same strings.
const minSuccessCode, maxSuccessCode, maxSuccessCodesLength = 200, 499, 128

var codesPart = regexp.MustCompile(`^[0-9]{3}(-[0-9]{3})?$`)

// successCodes are the codes that count as healthy: a list of inclusive ranges.
type successCodes [][2]int

// parseSuccessCodes reads the API's grammar: codes or ascending ranges of codes from 200 to
// 499, separated by commas ("200", "200-299", "200,300-399"); it refuses what the API refuses.
func parseSuccessCodes(text string) (successCodes, error) {
	if len(text) > maxSuccessCodesLength {
		return nil, fmt.Errorf("%q is longer than %d characters", text, maxSuccessCodesLength)
	}
	var codes successCodes
	for _, part := range strings.Split(text, ",") {
		if !codesPart.MatchString(part) {
			return nil, fmt.Errorf("%q: %q is not a code or a range of codes such as 200-299", text, part)
		}
		low, high, isRange := strings.Cut(part, "-")
		if !isRange {
			high = low
		}
		first, _ := strconv.Atoi(low)
		last, _ := strconv.Atoi(high)
		if first < minSuccessCode || last > maxSuccessCode || first > last {
			return nil, fmt.Errorf("%q: %q is not an ascending range within %d-%d",
				text, part, minSuccessCode, maxSuccessCode)
		}
		codes = append(codes, [2]int{first, last})
	}
	return codes, nil
}

func (codes successCodes) match(status int) bool {
	for _, r := range codes {
		if r[0] <= status && status <= r[1] {
			return true
		}
	}
	return false
}

// config is what the renderer sets, as flags.
type config struct {
	endpoint           string // scheme://host:port
	path               string // sent as written, query included
	interval, timeout  time.Duration
	codes              successCodes
	healthyThreshold   int
	unhealthyThreshold int
	listen             string // where the verdict is served
}

func parseConfig(args []string, output io.Writer) (config, error) {
	flags := flag.NewFlagSet("prober", flag.ContinueOnError)
	flags.SetOutput(output)
	scheme := flags.String("scheme", "http", "http or https (any certificate is accepted)")
	host := flags.String("host", "localhost", "the address of the endpoint: the pod's IP")
	port := flags.Int("port", 0, "the endpoint's port (required)")
	path := flags.String("path", "/", "the path requested, with its query if any")
	interval := flags.Int("interval", 5, "seconds between checks")
	timeout := flags.Int("timeout", 2, "seconds a check waits for the response's headers")
	codes := flags.String("success-codes", "200-499", "codes that count as healthy")
	healthy := flags.Int("healthy-threshold", 2, "consecutive successes to become healthy")
	unhealthy := flags.Int("unhealthy-threshold", 2, "consecutive failures to become unhealthy")
	listen := flags.String("listen", ":63990", "the address serving the verdict")
	if err := flags.Parse(args); err != nil {
		return config{}, err
	}
	var problems []error
	if *scheme != "http" && *scheme != "https" {
		problems = append(problems, fmt.Errorf("-scheme: %q is not http or https", *scheme))
	}
	if *port < 1 || *port > 65535 {
		problems = append(problems, fmt.Errorf("-port: %d is not a port from 1 to 65535", *port))
	}
	if !strings.HasPrefix(*path, "/") {
		problems = append(problems, fmt.Errorf("-path: %q does not start with /", *path))
	}
	for name, value := range map[string]int{"-interval": *interval, "-timeout": *timeout,
		"-healthy-threshold": *healthy, "-unhealthy-threshold": *unhealthy} {
		if value < 1 {
			problems = append(problems, fmt.Errorf("%s: %d is not a positive number", name, value))
		}
	}
	parsed, err := parseSuccessCodes(*codes)
	if err != nil {
		problems = append(problems, fmt.Errorf("-success-codes: %w", err))
	}
	endpoint := *scheme + "://" + net.JoinHostPort(*host, strconv.Itoa(*port))
	return config{
		endpoint: endpoint, path: *path, codes: parsed, listen: *listen,
		interval: time.Duration(*interval) * time.Second, timeout: time.Duration(*timeout) * time.Second,
		healthyThreshold: *healthy, unhealthyThreshold: *unhealthy,
	}, errors.Join(problems...)
}

// verdict is the health check's state: unhealthy until healthyThreshold consecutive successes,
// then healthy until unhealthyThreshold consecutive failures.
type verdict struct {
	mu                 sync.Mutex
	healthyThreshold   int
	unhealthyThreshold int
	healthy            bool
	streak             int  // consecutive results alike, the last one included
	lastOK             bool // the last result
	last               string
}

// record adds one check's result and says whether the verdict changed.
func (v *verdict) record(ok bool, detail string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ok == v.lastOK {
		v.streak++
	} else {
		v.lastOK, v.streak = ok, 1
	}
	v.last = detail
	switch {
	case !v.healthy && ok && v.streak >= v.healthyThreshold:
		v.healthy = true
	case v.healthy && !ok && v.streak >= v.unhealthyThreshold:
		v.healthy = false
	default:
		return false
	}
	return true
}

func (v *verdict) describe() (bool, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	word := map[bool]string{true: "healthy", false: "unhealthy"}
	kind := map[bool]string{true: "successes", false: "failures"}
	if v.last == "" {
		return false, "unhealthy: no check yet"
	}
	return v.healthy, fmt.Sprintf("%s: %d consecutive %s, the last: %s",
		word[v.healthy], v.streak, kind[v.lastOK], v.last)
}

// ServeHTTP is what the kubelet's readiness probe reads: 200 when healthy, else 503.
func (v *verdict) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	healthy, text := v.describe()
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, text)
}

// checker makes one request per check, on a new connection each time, as a load balancer's
// health check does; it accepts any certificate and reports a redirect as it is.
type checker struct {
	client   *http.Client
	endpoint string
	path     string
	codes    successCodes
}

func newChecker(cfg config) *checker {
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
		Proxy:             nil, // the endpoint is in the pod: never through a proxy
	}
	client := &http.Client{
		Transport:     transport,
		Timeout:       cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &checker{client: client, endpoint: cfg.endpoint, path: cfg.path, codes: cfg.codes}
}

// check is one health check: whether it succeeded, and what happened, for humans.
func (c *checker) check() (bool, string) {
	request, err := http.NewRequest(http.MethodGet, c.endpoint+"/", nil)
	if err != nil {
		return false, err.Error()
	}
	// The request line carries the path exactly as the user wrote it, as a load balancer's
	// check does: no escaping, no fragment dropped, no parse error for a stray %.
	request.URL.Opaque = c.path
	request.Header.Set("User-Agent", "lightship-health-check")
	response, err := c.client.Do(request)
	if err != nil {
		return false, err.Error()
	}
	response.Body.Close()
	if c.codes.match(response.StatusCode) {
		return true, fmt.Sprintf("GET %s%s answered %d", c.endpoint, c.path, response.StatusCode)
	}
	return false, fmt.Sprintf("GET %s%s answered %d, not a success code",
		c.endpoint, c.path, response.StatusCode)
}

// watch checks at once, then every interval, until stop closes; a check that takes longer
// than the interval delays the next one rather than overlapping it.
func watch(cfg config, v *verdict, out *log.Logger, stop <-chan struct{}) {
	c := newChecker(cfg)
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	previous, first := false, true
	for {
		ok, detail := c.check()
		if v.record(ok, detail) {
			_, text := v.describe()
			out.Print(text)
		} else if first || ok != previous { // a change of result that leaves the verdict as it is
			out.Printf("check %s: %s", map[bool]string{true: "passed", false: "failed"}[ok], detail)
		}
		previous, first = ok, false
		select {
		case <-ticker.C:
		case <-stop:
			return
		}
	}
}

func main() {
	out := log.New(os.Stdout, "", 0)
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "prober:", err)
		}
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prober: cannot serve the verdict:", err)
		os.Exit(1)
	}
	v := &verdict{healthyThreshold: cfg.healthyThreshold, unhealthyThreshold: cfg.unhealthyThreshold}
	out.Printf("checking GET %s every %s (timeout %s): healthy after %d successes, unhealthy "+
		"after %d failures; verdict on %s", cfg.endpoint+cfg.path, cfg.interval, cfg.timeout,
		cfg.healthyThreshold, cfg.unhealthyThreshold, listener.Addr())
	server := &http.Server{Handler: v, ReadHeaderTimeout: 5 * time.Second}
	go server.Serve(listener)
	stop := make(chan struct{})
	go watch(cfg, v, out, stop)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	close(stop)
}

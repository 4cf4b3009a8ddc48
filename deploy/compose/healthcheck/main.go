// Command healthcheck is the Docker HEALTHCHECK of the service images. The
// images are distroless (no shell, no curl), so this small static binary does
// the one thing a health check needs: GET a URL and exit 0 when it answers
// 200, 1 otherwise (any other status, a refused connection or a time-out).
//
//	healthcheck [-timeout 3s] [-port-env NAME] URL
//
// With -port-env, the port of the environment variable NAME (a listen
// address such as ":9080" or "0.0.0.0:9180", e.g. PROCESSOR_HTTP_ADDR)
// replaces the URL's port when NAME is set, so the check follows an http.addr
// changed through the environment. It prints one line to stderr when the
// check fails, which `docker inspect` shows in the container's health log.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run is main with its inputs explicit; it returns the exit code.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "time limit of the request")
	portEnv := fs.String("port-env", "", "environment variable holding the service's listen address; its port replaces the URL's")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: healthcheck [-timeout 3s] [-port-env NAME] URL")
		return 2
	}
	target, err := checkURL(fs.Arg(0), *portEnv, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := check(ctx, target); err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	return 0
}

// checkURL returns raw with its port taken from the listen address in the
// environment variable portEnv, when that is set.
func checkURL(raw, portEnv string, getenv func(string) string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	if portEnv == "" || getenv(portEnv) == "" {
		return u.String(), nil
	}
	_, port, err := net.SplitHostPort(getenv(portEnv))
	if err != nil || port == "" {
		return "", fmt.Errorf("%s=%q is not host:port", portEnv, getenv(portEnv))
	}
	u.Host = net.JoinHostPort(u.Hostname(), port)
	return u.String(), nil
}

// check GETs target and wants 200.
func check(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", target, resp.Status, body)
	}
	return nil
}

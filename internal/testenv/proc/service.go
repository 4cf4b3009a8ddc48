package proc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vehicle-stats/vehicle-stats/internal/testenv/scratch"
)

// Service is a service binary running with its HTTP server at Addr.
type Service struct {
	*Process
	// Addr is its HTTP address, host:port.
	Addr string
}

// execService starts bin with the environment env makes for the HTTP
// address addr (a free port on 127.0.0.1 when addr is empty).
func execService(name, bin, logPath string, args []string, addr string, env func(addr string) []string) (*Service, error) {
	if addr == "" {
		port, err := scratch.FreePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	p, err := StartProcess(name, bin, Launch{Args: args, Env: env(addr), LogPath: logPath})
	if err != nil {
		return nil, fmt.Errorf("%w (run `make build` first, or give the binary's path)", err)
	}
	return &Service{Process: p, Addr: addr}, nil
}

// AwaitReady waits until the service's /readyz answers 200. When ctx ends
// first, or the process exits, it kills the process and says so with the
// end of its log.
func (s *Service) AwaitReady(ctx context.Context) error { return s.await(ctx, true) }

// AwaitListening waits until the service's /readyz answers, whatever it
// says; it fails as AwaitReady does.
func (s *Service) AwaitListening(ctx context.Context) error { return s.await(ctx, false) }

func (s *Service) await(ctx context.Context, ready bool) error {
	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer"
	for {
		resp, err := client.Get("http://" + s.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if !ready || resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		select {
		case <-s.Done():
			return fmt.Errorf("%s exited at start: %v\n%s", s.Name, s.Err(), s.Tail(30))
		case <-ctx.Done():
			s.Kill()
			return fmt.Errorf("%s not ready on %s/readyz (%s) before %v; the end of its log:\n%s", s.Name, s.Addr, last, context.Cause(ctx), s.Tail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

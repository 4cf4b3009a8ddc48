package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Launch says how StartProcess runs a binary.
type Launch struct {
	// Args are the command-line arguments.
	Args []string
	// Env is added to this process's environment, or with Clean is the
	// whole environment besides PATH (as a container would run it).
	Env   []string
	Clean bool
	// Dir is the working directory; this process's when empty.
	Dir string
	// LogPath receives stdout and stderr; a new temporary file when empty.
	LogPath string
}

// Process is a service binary started for a test or a benchmark, its output
// going to a log file.
type Process struct {
	// Name names the process in messages.
	Name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// StartProcess starts bin as l says; it fails when the binary cannot be
// started.
func StartProcess(name, bin string, l Launch) (*Process, error) {
	var logf *os.File
	var err error
	if l.LogPath == "" {
		logf, err = os.CreateTemp("", name+"-*.log")
	} else {
		logf, err = os.OpenFile(l.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, l.Args...)
	cmd.Dir = l.Dir
	if l.Clean {
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, l.Env...)
	} else {
		cmd.Env = append(os.Environ(), l.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{Name: name, cmd: cmd, logPath: logf.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is nil after an exit 0, the exit error otherwise; valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// ExitCode is the exit code, -1 when killed by a signal; valid once Done is
// closed.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// ErrNotStopped is matched by Stop's error when the process did not exit
// within the grace period after SIGTERM.
var ErrNotStopped = errors.New("did not stop in time")

// Stop sends SIGTERM and waits up to grace for the exit; it fails when the
// process exits other than with 0, and, after killing it, with
// ErrNotStopped when it does not exit in time.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s did not exit 0 on SIGTERM: %w", p.Name, p.err)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s %w: not within %s of SIGTERM", p.Name, ErrNotStopped, grace)
	}
}

// Kill sends SIGKILL, if the process still runs, and waits up to 5 s for
// it to go.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Tail is the last n lines of the log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

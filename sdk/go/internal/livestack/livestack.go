// Package livestack starts the real Neural Heatmap server and gRPC bridge as processes on
// free loopback ports, for tests and runnable examples (the Go side of tests/support):
// the Python interpreter is the repository's .venv (make setup), or $NH_PYTHON.
package livestack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// StartupTimeout bounds how long a process may take to answer its readiness probe.
const StartupTimeout = 30 * time.Second

// Process is one running server or bridge.
type Process struct {
	Port int
	cmd  *exec.Cmd
	log  *os.File
	dirs []string // removed by Stop
	// exited is closed once the process has ended (one goroutine Waits for it).
	exited chan struct{}
}

// Address is "127.0.0.1:<port>".
func (p *Process) Address() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// URL is "http://127.0.0.1:<port>" (the server's base URL).
func (p *Process) URL() string { return "http://" + p.Address() }

// Log is the process's combined output so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// Stop ends the process (SIGTERM, SIGKILL after 10 s) and removes its directories.
func (p *Process) Stop() {
	if p.exited != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	_ = p.log.Close()
	for _, d := range p.dirs {
		_ = os.RemoveAll(d)
	}
}

// Root is the repository root (the folder holding protos/), found from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "protos", "policy", "retry.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("livestack: no repository root (protos/policy/retry.json) above the working directory")
		}
		dir = parent
	}
}

// FreePort is a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(kind string, port int, ready func(*Process) bool, sourceDirs []string, args ...string) (*Process, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	python := os.Getenv("NH_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		return nil, fmt.Errorf("livestack: no Python interpreter at %s; run `make setup` or set NH_PYTHON", python)
	}
	dir, err := os.MkdirTemp("", "nh-go-"+kind+"-")
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, kind+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, log, log
	paths := make([]string, 0, len(sourceDirs)+1)
	for _, d := range sourceDirs {
		paths = append(paths, filepath.Join(root, d))
	}
	if pp := os.Getenv("PYTHONPATH"); pp != "" {
		paths = append(paths, pp)
	}
	cmd.Env = append(os.Environ(), "PYTHONPATH="+strings.Join(paths, string(os.PathListSeparator)))
	p := &Process{Port: port, cmd: cmd, log: log, dirs: []string{dir}}
	if err := cmd.Start(); err != nil {
		p.Stop()
		return nil, err
	}
	p.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(StartupTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			out := p.Log()
			p.Stop()
			return nil, fmt.Errorf("livestack: %s exited at startup:\n%s", kind, out)
		default:
		}
		if ready(p) {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := p.Log()
	p.Stop()
	return nil, fmt.Errorf("livestack: %s not ready after %s:\n%s", kind, StartupTimeout, out)
}

// StartServer starts the server (no built-in source, its own data and export directories)
// on port (0: a free one) with extra flags, and waits for GET /health.
func StartServer(port int, extra ...string) (*Process, error) {
	if port == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	data, err := os.MkdirTemp("", "nh-go-data-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"-m", "neural_heatmap_server", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--no-source", "--data-dir", filepath.Join(data, "data"), "--export-dir", filepath.Join(data, "exports")}, extra...)
	p, err := launch("server", port, healthy, []string{"server", "contract/python"}, args...)
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	p.dirs = append(p.dirs, data)
	return p, nil
}

// healthy reports whether an HTTP process answers GET /health with 200.
func healthy(p *Process) bool {
	resp, err := http.Get(p.URL() + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartCrafted starts tests/support/crafted_upstream.py on a free port: an upstream that
// answers what the real server cannot (an anomaly type outside the enum, metadata of every
// JSON kind); put a bridge in front of it with StartBridge(p.URL()).
func StartCrafted() (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return launch("crafted-upstream", port, healthy, []string{""},
		"-m", "tests.support.crafted_upstream", "--port", strconv.Itoa(port))
}

// StartBridge starts a bridge towards upstreamURL (which need not be up) on a free port and
// waits until grpc.health.v1 answers (SERVING or NOT_SERVING: it is up without its upstream).
func StartBridge(upstreamURL string, extra ...string) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// The web port (Connect, gRPC-Web) off: bridges started side by side (packages test in
	// parallel) must not all bind its default 8090; a later --web-port in extra wins.
	args := append([]string{"-m", "neural_heatmap_bridge", "--listen", addr, "--upstream", upstreamURL,
		"--health-interval", "0.3", "--web-port", "0"}, extra...)
	return launch("bridge", port, func(p *Process) bool {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil
	}, []string{"bridge", "contract/python", "sdk/python"}, args...)
}

// Package redistest runs real redis-server processes for tests: a single server that a test can
// stop, restart and kill (for outages), a Redis Cluster, and a master watched by a Sentinel.
// redis-server and redis-cli must be on PATH (`make test` installs them); a test that needs them
// fails, rather than skips, without.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// readyTimeout bounds every wait for a server or a cluster to come up.
const readyTimeout = 20 * time.Second

// Server is one redis-server process on a loopback port, without persistence.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // why it exited; read after done
}

// Start starts a redis-server on a free loopback port and kills it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t)
}

func start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startWith(t, func(s *Server) ([]string, error) {
		return append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.dir,
			"--logfile", filepath.Join(s.dir, "redis.log")}, extra...), nil
	})
}

// startWith starts a redis-server with the arguments that args gives for a Server whose port
// and directory are chosen, and kills it when the test ends. Its log must go to redis.log in
// that directory.
func startWith(t testing.TB, args func(s *Server) ([]string, error)) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	// A free port can be taken between the probe and the start: try a few.
	var err error
	for range 5 {
		s := &Server{t: t, port: freePort(t), dir: t.TempDir()}
		if s.args, err = args(s); err != nil {
			t.Fatalf("redistest: preparing redis-server: %v", err)
		}
		if err = s.launch(bin); err == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", err)
	return nil
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s is not on PATH: install redis-server (apt-get install redis-server; `make test` does it): %v", name, err)
	}
	return path
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// launch starts the process and waits until it answers PING.
func (s *Server) launch(bin string) error {
	cmd := exec.Command(bin, s.args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := s.waitReady(p); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// waitReady polls PING until it answers, the process exits or readyTimeout passes.
func (s *Server) waitReady(p *process) error {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on port %d exited (%v): %s", s.port, p.err, s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d not answering PING after %s: %v: %s", s.port, readyTimeout, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return "log: " + strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop shuts the server down (SIGTERM) and waits until it has exited. Its data is lost.
func (s *Server) Stop() { s.halt(syscall.SIGTERM) }

// Kill kills the server (SIGKILL) and waits until it has exited; a stopped server is left so.
func (s *Server) Kill() { s.halt(syscall.SIGKILL) }

// Pause freezes the server (SIGSTOP): connections are still accepted, nothing is answered, as
// with a hung server or a lost network.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: signalling redis-server on port %d, which is stopped", s.port)
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signalling redis-server on port %d: %v", s.port, err)
	}
}

func (s *Server) halt(sig os.Signal) {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	// SIGCONT lets a paused server act on the signal.
	for _, sig := range []os.Signal{sig, syscall.SIGCONT} {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.t.Errorf("redistest: signalling redis-server on port %d: %v", s.port, err)
		}
	}
	<-p.done
}

// Restart starts a stopped server again on the same port and waits until it answers. The
// test fails when the port has been taken meanwhile.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	running := s.proc != nil
	s.mu.Unlock()
	if running {
		s.t.Fatalf("redistest: Restart of redis-server on port %d, which is running", s.port)
	}
	if err := s.launch(lookPath(s.t, "redis-server")); err != nil {
		s.t.Fatalf("redistest: restarting redis-server: %v", err)
	}
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts masters (at least 3) cluster-enabled servers, joins them with
// `redis-cli --cluster create` and waits until every node reports cluster_state:ok and knows
// all the others. The servers are killed when the test ends.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: a cluster needs at least 3 masters, not %d", masters)
	}
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for range masters {
		s := start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		c.Servers = append(c.Servers, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.Servers {
		if err := s.waitCluster(masters); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	return c
}

// waitCluster polls CLUSTER INFO until the node is ok and knows n nodes.
func (s *Server) waitCluster(n int) error {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	want := []string{"cluster_state:ok", "cluster_known_nodes:" + strconv.Itoa(n), "cluster_slots_ok:16384"}
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.ClusterInfo(ctx).Result()
		cancel()
		if err == nil && containsAll(info, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster node %s not ready after %s (%v):\n%s", s.Addr(), readyTimeout, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsAll(info string, lines []string) bool {
	for _, l := range lines {
		if !strings.Contains(info, l+"\r\n") {
			return false
		}
	}
	return true
}

// URL is the cluster's redis+cluster:// URL with every node as a seed, as the redis store's
// Open takes it.
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Servers[0].Addr()
	for i, s := range c.Servers[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + s.Addr()
	}
	return u
}

// Sentinel is a master watched by one Redis Sentinel, without replicas.
type Sentinel struct {
	Master     *Server // the monitored master
	Sentinel   *Server // the Sentinel (redis-server --sentinel)
	MasterName string
}

// StartSentinel starts a master and a Sentinel that monitors it as masterName (quorum 1, down
// after 1s), and waits until the Sentinel names the master. Both are killed when the test ends.
func StartSentinel(t testing.TB, masterName string) *Sentinel {
	t.Helper()
	if masterName == "" || strings.ContainsAny(masterName, " \t\r\n\"'") {
		t.Fatalf("redistest: unusable Sentinel master name %q", masterName)
	}
	master := Start(t)
	sentinel := startWith(t, func(s *Server) ([]string, error) {
		// Sentinel rewrites its configuration file (its id, what it learns), so it is in the
		// server's own directory.
		conf := filepath.Join(s.dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\n",
			s.port, quote(s.dir), quote(filepath.Join(s.dir, "redis.log")),
			masterName, master.port, masterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel"}, nil
	})
	sn := &Sentinel{Master: master, Sentinel: sentinel, MasterName: masterName}
	if err := sn.waitMaster(); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return sn
}

// quote writes s as a double-quoted string of a redis configuration file.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// waitMaster polls SENTINEL GET-MASTER-ADDR-BY-NAME until it names the master.
func (sn *Sentinel) waitMaster() error {
	c := goredis.NewSentinelClient(&goredis.Options{Addr: sn.Sentinel.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	want := []string{"127.0.0.1", strconv.Itoa(sn.Master.port)}
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := c.GetMasterAddrByName(ctx, sn.MasterName).Result()
		cancel()
		if err == nil && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinel %s does not name master %q at %s after %s (got %v, %v): %s",
				sn.Sentinel.Addr(), sn.MasterName, sn.Master.Addr(), readyTimeout, got, err, sn.Sentinel.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL is the redis+sentinel:// URL of the master through the Sentinel, database 0, as the
// redis store's Open takes it.
func (sn *Sentinel) URL() string {
	return "redis+sentinel://" + sn.Sentinel.Addr() + "/0?master_name=" + url.QueryEscape(sn.MasterName)
}

// tio-dp-agent: the dataplane's pod and plumbing process (standard library only).
//
//	serve   --control SOCK [--tcp P,..] [--udp P,..] [--sctp P,..]
//	        Run inside a pod's network namespace: listen on the given ports (TCP accepts and closes, UDP
//	        echoes, SCTP accepts and closes where the kernel has SCTP) and answer probe requests on the
//	        unix socket SOCK (a filesystem socket crosses network namespaces, so the test process in the
//	        host namespace reaches every pod's agent).
//	forward --listen ADDR --connect ADDR      ADDR = tcp:HOST:PORT | unix:PATH
//	        Copy bytes between each accepted connection and a new connection to --connect. Two of them
//	        bridge the apiserver (host loopback) into the node namespace through a unix socket.
//
// Why our own prober: socat drops UDP replies under parallel probes, and a probe here must say exactly
// one of open / refused / timeout, fast (denied traffic is REJECTed, so refusals are immediate).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fatal("usage: tio-dp-agent serve|forward|version [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "forward":
		forward(os.Args[2:])
	case "version":
		fmt.Println(version)
	default:
		fatal("unknown command %q (serve, forward, version)", os.Args[1])
	}
}

// Bumped whenever the probe protocol changes, so a stale cached binary is never used.
const version = "tio-dp-agent 2"

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tio-dp-agent: "+format+"\n", args...)
	os.Exit(1)
}

func ports(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			fatal("bad port %q", f)
		}
		out = append(out, p)
	}
	return out
}

// ---- serve ----

type probe struct {
	IP       string `json:"ip"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
}

type request struct {
	Op        string  `json:"op"`
	Probes    []probe `json:"probes,omitempty"`
	TimeoutMs int     `json:"timeoutMs,omitempty"`
}

type pingReply struct {
	Version string `json:"version"`
	SCTP    string `json:"sctp"` // "ok", or why SCTP is unavailable
}

type probeReply struct {
	Results []string `json:"results"`
}

var sctpStatus = "ok"

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	control := fs.String("control", "", "unix socket for probe requests")
	tcp := fs.String("tcp", "", "TCP ports to listen on")
	udp := fs.String("udp", "", "UDP ports to listen on")
	sctp := fs.String("sctp", "", "SCTP ports to listen on")
	_ = fs.Parse(args)
	if *control == "" {
		fatal("serve: --control is required")
	}
	for _, p := range ports(*tcp) {
		l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			fatal("listen TCP %d: %v", p, err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
	}
	for _, p := range ports(*udp) {
		pc, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			fatal("listen UDP %d: %v", p, err)
		}
		go func() {
			buf := make([]byte, 512)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}()
	}
	if sp := ports(*sctp); len(sp) > 0 {
		for _, p := range sp {
			if err := sctpListen(p); err != nil {
				sctpStatus = err.Error()
				break
			}
		}
	} else if fd, err := sctpSocket(); err != nil {
		sctpStatus = err.Error()
	} else {
		_ = syscall.Close(fd)
	}

	// Listen on a temporary name and rename it into place: whoever sees the socket file can connect
	// (bind creates the file before listen, and a connect in between is refused).
	tmp := *control + ".tmp"
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		fatal("listen %s: %v", tmp, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Rename(tmp, *control); err != nil {
		fatal("rename %s: %v", tmp, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; _ = l.Close(); _ = os.Remove(*control); os.Exit(0) }()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

func handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			_ = enc.Encode(map[string]string{"error": "bad request: " + err.Error()})
			return
		}
		switch req.Op {
		case "ping":
			_ = enc.Encode(pingReply{Version: version, SCTP: sctpStatus})
		case "probe":
			timeout := time.Duration(req.TimeoutMs) * time.Millisecond
			if timeout <= 0 {
				timeout = time.Second
			}
			results := make([]string, len(req.Probes))
			var wg sync.WaitGroup
			for i, p := range req.Probes {
				wg.Add(1)
				go func() { defer wg.Done(); results[i] = runProbe(p, timeout) }()
			}
			wg.Wait()
			_ = enc.Encode(probeReply{Results: results})
		default:
			_ = enc.Encode(map[string]string{"error": "unknown op " + req.Op})
		}
	}
}

// classify turns a connection error into the probe's answer.
func classify(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "open"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, syscall.ETIMEDOUT):
		return "timeout"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	default:
		return "error: " + err.Error()
	}
}

func runProbe(p probe, timeout time.Duration) string {
	addr := net.JoinHostPort(p.IP, strconv.Itoa(p.Port))
	switch p.Protocol {
	case "TCP":
		c, err := net.DialTimeout("tcp4", addr, timeout)
		if err == nil {
			_ = c.Close()
		}
		return classify(err)
	case "UDP":
		return udpProbe(p, timeout)
	case "SCTP":
		if sctpStatus != "ok" {
			return "unsupported: " + sctpStatus
		}
		return classify(sctpConnect(p.IP, p.Port, timeout))
	default:
		return "error: unknown protocol " + p.Protocol
	}
}

// UDP probes bind a source port from a rotating range rather than an ephemeral one: a datagram whose
// 5-tuple matches an earlier allowed probe's conntrack entry (30 s) would pass as ESTABLISHED even
// after a policy change denied it, and the kernel may reuse an ephemeral port within that time.
var nextUDPPort atomic.Uint32

const udpPortBase, udpPortCount = 40000, 20000

func udpProbe(p probe, timeout time.Duration) string {
	raddr := &net.UDPAddr{IP: net.ParseIP(p.IP), Port: p.Port}
	var c *net.UDPConn
	var err error
	for range 50 {
		lport := udpPortBase + int(nextUDPPort.Add(1)%udpPortCount)
		c, err = net.DialUDP("udp4", &net.UDPAddr{Port: lport}, raddr)
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		return classify(err)
	}
	defer c.Close()
	nonce := fmt.Sprintf("tio-%d-%d", time.Now().UnixNano(), p.Port)
	buf := make([]byte, 512)
	deadline := time.Now().Add(timeout)
	// Two sends: one lost datagram (a full socket buffer) must not read as a refusal or a timeout.
	for attempt := 0; attempt < 2; attempt++ {
		if _, err := c.Write([]byte(nonce)); err != nil {
			return classify(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout / 2))
		for {
			n, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(deadline) {
					break
				}
				return classify(err)
			}
			if string(buf[:n]) == nonce {
				return "open"
			}
		}
	}
	return "timeout"
}

// ---- SCTP (one-to-one style sockets through raw syscalls: the standard library has no SCTP) ----

const ipprotoSCTP = 132

func sctpSocket() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, ipprotoSCTP)
	if err != nil {
		return -1, fmt.Errorf("the kernel refuses SCTP sockets (%v): no CONFIG_IP_SCTP / sctp module", err)
	}
	return fd, nil
}

func sctpListen(port int) error {
	fd, err := sctpSocket()
	if err != nil {
		return err
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("bind SCTP %d: %v", port, err)
	}
	if err := syscall.Listen(fd, 128); err != nil {
		return fmt.Errorf("listen SCTP %d: %v", port, err)
	}
	go func() {
		for {
			nfd, _, err := syscall.Accept(fd)
			if err != nil {
				return
			}
			_ = syscall.Close(nfd)
		}
	}()
	return nil
}

func sctpConnect(ip string, port int, timeout time.Duration) error {
	fd, err := sctpSocket()
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		return err
	}
	var a [4]byte
	copy(a[:], net.ParseIP(ip).To4())
	err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: a})
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EINPROGRESS) {
		return err
	}
	// Wait for writability, then read the connect result from SO_ERROR.
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var wset syscall.FdSet
		wset.Bits[fd/64] |= 1 << (uint(fd) % 64)
		tv := syscall.NsecToTimeval(int64(10 * time.Millisecond))
		n, err := syscall.Select(fd+1, nil, &wset, nil, &tv)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return err
		}
		if n > 0 {
			soerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
			if err != nil {
				return err
			}
			if soerr != 0 {
				return syscall.Errno(soerr)
			}
			return nil
		}
	}
	return os.ErrDeadlineExceeded
}

// ---- forward ----

func splitAddr(s string) (network, addr string) {
	network, addr, ok := strings.Cut(s, ":")
	if !ok || (network != "tcp" && network != "unix") {
		fatal("address %q must be tcp:HOST:PORT or unix:PATH", s)
	}
	return network, addr
}

func forward(args []string) {
	fs := flag.NewFlagSet("forward", flag.ExitOnError)
	listen := fs.String("listen", "", "tcp:HOST:PORT or unix:PATH")
	connect := fs.String("connect", "", "tcp:HOST:PORT or unix:PATH")
	_ = fs.Parse(args)
	if *listen == "" || *connect == "" {
		fatal("forward: --listen and --connect are required")
	}
	ln, la := splitAddr(*listen)
	cn, ca := splitAddr(*connect)
	if ln == "unix" {
		_ = os.Remove(la)
	}
	l, err := net.Listen(ln, la)
	if err != nil {
		fatal("listen %s: %v", *listen, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = l.Close()
		if ln == "unix" {
			_ = os.Remove(la)
		}
		os.Exit(0)
	}()
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout(cn, ca, 10*time.Second)
			if err != nil {
				fmt.Fprintf(os.Stderr, "tio-dp-agent forward: connect %s: %v\n", *connect, err)
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

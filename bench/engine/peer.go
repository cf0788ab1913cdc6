package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// peer is a benchmark process of another engine (PyTorch, ONNX Runtime) that answers
// one JSON request line with one JSON reply line; see scripts/bench_torch.py and
// scripts/bench_ort.js for the protocol.
type peer struct {
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	hello map[string]any
}

// peerReply is one answer line of a peer.
type peerReply struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error"`
	TimesNs []int64 `json:"times_ns"`
}

// startPeer starts the process, with env added to this process's environment, and
// reads its ready line.
func startPeer(ctx context.Context, name string, env []string, argv ...string) (*peer, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &peer{name: name, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	p.out.Buffer(make([]byte, 1<<16), 1<<24)
	if !p.out.Scan() {
		p.close()
		return nil, fmt.Errorf("bench: %s exited before it was ready: %s", name, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(p.out.Bytes(), &p.hello); err != nil || p.hello["ok"] != true {
		p.close()
		return nil, fmt.Errorf("bench: %s: bad ready line %q: %s", name, p.out.Text(), strings.TrimSpace(stderr.String()))
	}
	return p, nil
}

// time sends one request and returns the per-run durations of the reply.
func (p *peer) time(req map[string]any) (sample, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", p.name, err)
	}
	if _, err := fmt.Fprintf(p.in, "%s\n", b); err != nil {
		return nil, fmt.Errorf("bench: %s: send: %w", p.name, err)
	}
	if !p.out.Scan() {
		err := p.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("bench: %s: no reply to %s: %w", p.name, b, err)
	}
	var r peerReply
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("bench: %s: bad reply %q: %w", p.name, p.out.Text(), err)
	}
	if !r.OK {
		return nil, fmt.Errorf("bench: %s: %s", p.name, r.Error)
	}
	if len(r.TimesNs) == 0 {
		return nil, errors.New("bench: " + p.name + ": reply without times")
	}
	return fromNanos(r.TimesNs), nil
}

// close ends the peer: closing stdin makes it exit; it is killed after a grace period.
func (p *peer) close() {
	if p == nil {
		return
	}
	p.in.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

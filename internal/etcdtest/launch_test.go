package etcdtest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStartFailureShowsLog runs start with a stand-in for etcd, so that it
// fails the same way every time, fast.
func TestStartFailureShowsLog(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{
			name:   "etcd exits",
			script: `echo "I | etcdmain: etcd Version: 3.4.23"; echo "C | etcdmain: cannot access data directory: permission denied" >&2; exit 1`,
			want:   []string{"etcd exited before it answered: exit status 1", "last lines of", "etcd.log", "launch 1", "etcd Version: 3.4.23", "cannot access data directory"},
		},
		{
			name:   "etcd never answers",
			script: `echo "I | raft: waiting for a quorum"; exec sleep 60`,
			want:   []string{"did not answer a read within 1s", "last lines of", "waiting for a quorum"},
		},
		{
			name:   "ports taken every time",
			script: `echo "C | etcdmain: listen tcp 127.0.0.1:2380: bind: address already in use" >&2; exit 1`,
			want:   []string{"start etcd 3 times: etcd exited", "a port was taken", "node-3/etcd.log", "address already in use"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.startTimeout = time.Second
			c.bin = filepath.Join(t.TempDir(), "etcd")
			if err := os.WriteFile(c.bin, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := start(t.Context(), c, t.TempDir())
			if err == nil {
				s.Kill()
				t.Fatal("start succeeded with a binary that runs no etcd")
			}
			if se := (*startError)(nil); !errors.As(err, &se) {
				t.Errorf("error %T, want a *startError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestFindBinaryNamesMakeEtcd(t *testing.T) {
	root := t.TempDir()
	if _, err := findBinary(root); err == nil || !strings.Contains(err.Error(), "make etcd") {
		t.Errorf("findBinary without etcd: %v, want an error naming `make etcd`", err)
	}
	want := filepath.Join(root, ".cache", "etcd", "usr", "bin", "etcd")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := findBinary(root); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Errorf("findBinary with a file that does not run: %v, want an error saying it is not executable", err)
	}
	if err := os.Chmod(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findBinary(root); got != want || err != nil {
		t.Errorf("findBinary: %q, %v, want %q, nil", got, err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string // "" when valid
	}{
		{"defaults", nil, ""},
		{"a flag", []Option{Flag("auto-compaction-retention", "1")}, ""},
		{"zero timeout", []Option{StartTimeout(0)}, "StartTimeout 0s: must be positive"},
		{"managed flag", []Option{Flag("data-dir", "/tmp/x")}, `Flag "data-dir": set by etcdtest itself`},
		{"leading dashes", []Option{Flag("--snapshot-count", "10")}, `Flag "--snapshot-count": a name has no leading '-'`},
		{"name with '='", []Option{Flag("a=b", "c")}, `Flag "a=b"`},
		{"value on two lines", []Option{Flag("a", "b\nc")}, "must fit on one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			for _, o := range tt.opts {
				o(&c)
			}
			err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	c := defaultConfig()
	Flag("election-timeout", "500")(&c)
	Flag("auto-compaction-retention", "1")(&c)
	got := args(c.flags, "/tmp/d", "http://127.0.0.1:1", "http://127.0.0.1:2")
	want := []string{
		"--name=etcdtest",
		"--data-dir=/tmp/d",
		"--listen-client-urls=http://127.0.0.1:1",
		"--advertise-client-urls=http://127.0.0.1:1",
		"--listen-peer-urls=http://127.0.0.1:2",
		"--initial-advertise-peer-urls=http://127.0.0.1:2",
		"--initial-cluster=etcdtest=http://127.0.0.1:2",
		"--initial-cluster-state=new",
		"--auto-compaction-retention=1",
		"--election-timeout=500",
		"--heartbeat-interval=10",
	}
	if !slices.Equal(got, want) {
		t.Errorf("args:\n%q\nwant\n%q", got, want)
	}
}

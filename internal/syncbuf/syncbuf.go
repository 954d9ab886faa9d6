// Package syncbuf provides a bytes.Buffer that several goroutines may
// write while another reads it: the destination of a logger that a test
// reads while the code under test logs.
//
//	var b syncbuf.Buffer
//	log := slog.New(slog.NewTextHandler(&b, nil))
//	...
//	if !strings.Contains(b.String(), "level=ERROR") { ... }
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer whose Write and String are safe for concurrent
// use. The zero value is an empty buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

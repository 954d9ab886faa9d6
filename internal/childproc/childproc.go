package childproc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
)

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// TailFile returns the last n lines of the file at path, reading at most its
// last 64 KiB.
func TailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return fmt.Sprintf("(read %s: %v)", path, err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	return LastLines(data, n)
}

// LastLines returns the last n lines of data.
func LastLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	i := len(data)
	for range n {
		j := bytes.LastIndexByte(data[:i], '\n')
		if j < 0 {
			return string(data)
		}
		i = j
	}
	return string(data[i+1:])
}

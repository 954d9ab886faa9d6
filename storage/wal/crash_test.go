package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	crashDirEnv      = "TUMBLE_WAL_CRASH_DIR"
	crashSeedEnv     = "TUMBLE_WAL_CRASH_SEED"
	crashNoSyncEnv   = "TUMBLE_WAL_CRASH_NOSYNC"
	crashSegmentSize = 256 << 10
	crashKills       = 40 // at most
	crashMinKills    = 25 // at least, even past crashBudget
	crashBudget      = 20 * time.Second
	crashSeed        = 20261122
)

// TestCrash kills a process writing the WAL with SIGKILL at random moments,
// again and again on the same directory, and checks after each kill that
// every batch the process acknowledged is there, whole, in order, with no
// gap and no duplicate, and that appends go on after them.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes for several seconds")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(crashSeed, 0))
	var (
		acked     uint64 // the highest position a child acknowledged
		base      uint64 // the position carried into the first segment by the truncations below
		torn      int    // reopenings that cut off a torn tail
		tornBytes int64
		writing   int // kills that landed after the child started to log
		kills     int
	)
	start := time.Now()
	for i := range crashKills {
		if i >= crashMinKills && time.Since(start) > crashBudget {
			break
		}
		kills++
		childSeed := uint64(crashSeed)*1000 + uint64(i)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		// Every other child logs without fsync: its batches still survive a
		// process crash, and more kills land in the middle of a write.
		noSync := i%2 == 1
		where := fmt.Sprintf("kill %d (test seed %d, child seed %d, NoSync %v)", i, crashSeed, childSeed, noSync)
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashSeedEnv, childSeed),
			fmt.Sprintf("%s=%v", crashNoSyncEnv, noSync))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan struct{})
		var childAcked uint64 // written by the reader, read after done
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) == 2 && f[0] == "ready":
					close(ready)
				case len(f) == 2 && f[0] == "ack":
					n, err := strconv.ParseUint(f[1], 10, 64)
					if err == nil {
						childAcked = n
					}
				}
			}
		}()

		if i%4 == 0 {
			// Early: maybe while the child opens and repairs the WAL.
			time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		} else {
			select {
			case <-ready:
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: the child is not ready after 20s", where)
			}
			time.Sleep(2*time.Millisecond + time.Duration(rng.IntN(98_000))*time.Microsecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		<-done
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != -1 {
			t.Fatalf("%s: the child ended by itself (%v): %s", where, err, stderr.String())
		}
		if childAcked > 0 {
			writing++
		}
		acked = max(acked, childAcked)

		w, err := Open(dir, Options{SegmentSize: crashSegmentSize})
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		ost := w.OpenStats()
		if ost.Corruption != nil {
			t.Fatalf("%s: open: %v", where, ost.Corruption)
		}
		if ost.DiscardedBytes > 0 {
			torn++
			tornBytes += ost.DiscardedBytes
		}
		next := base + 1
		st, err := w.Replay(func(_ int, b Batch) error {
			if len(b.Position) != 8 {
				return fmt.Errorf("got a position of %d bytes, want 8", len(b.Position))
			}
			if p := binary.BigEndian.Uint64(b.Position); p != next {
				return fmt.Errorf("got batch %d, want batch %d", p, next)
			}
			for j, r := range b.Records {
				if err := checkCrashRecord(r, next, j, len(b.Records)); err != nil {
					return fmt.Errorf("batch %d: %w", next, err)
				}
			}
			next++
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		last := next - 1
		if last < acked {
			t.Fatalf("%s: replayed up to batch %d, but batch %d was acknowledged", where, last, acked)
		}
		if want := binary.BigEndian.AppendUint64(nil, last); last > 0 && string(st.LastPosition) != string(want) {
			t.Fatalf("%s: LastPosition: got %x, want %x", where, st.LastPosition, want)
		}
		if i%10 == 9 {
			// Persist a "block" of everything so far: the next replays start
			// after it, from the position carried into the new segment.
			seg, err := w.Cut()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Truncate(seg); err != nil {
				t.Fatal(err)
			}
			base = last
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if writing < kills/2 || acked < 50 {
		t.Errorf("only %d kills of %d landed while the child was logging, %d batches acknowledged in all: too few to test anything", writing, kills, acked)
	}
	t.Logf("%d kills in %v, %d while logging; %d batches acknowledged; %d torn tails cut off (%d bytes)",
		kills, time.Since(start).Round(time.Millisecond), writing, acked, torn, tornBytes)
}

// TestCrashChild is the process TestCrash kills: it opens the WAL, resumes
// after the last position, and logs batches until killed, printing the
// position of each batch once Log has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	os.Exit(crashChild(dir, seed, os.Getenv(crashNoSyncEnv) == "true"))
}

func crashChild(dir string, seed uint64, noSync bool) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	w, err := Open(dir, Options{SegmentSize: crashSegmentSize, NoSync: noSync})
	if err != nil {
		return fail(err)
	}
	// A small write buffer splits a batch into many writes, so that a kill
	// finds more of them half done.
	w.bw = bufio.NewWriterSize(w.f, 256)
	st, err := w.Replay(nil)
	if err != nil {
		return fail(err)
	}
	next := uint64(1)
	if len(st.LastPosition) == 8 {
		next = binary.BigEndian.Uint64(st.LastPosition) + 1
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], next)
	src := rand.NewChaCha8(key)
	pool := make([]byte, 1<<20)
	src.Read(pool)
	rng := rand.New(src)
	fmt.Printf("ready %d\n", next) // os.Stdout is unbuffered
	parent := os.Getppid()
	deadline := time.Now().Add(30 * time.Second)
	for ; ; next++ {
		if err := w.Log(crashBatch(rng, pool, next)); err != nil {
			return fail(err)
		}
		fmt.Printf("ack %d\n", next)
		if rng.IntN(40) == 0 {
			if _, err := w.Cut(); err != nil {
				return fail(err)
			}
		}
		if os.Getppid() != parent || time.Now().After(deadline) {
			return 3 // orphaned: never outlive the test
		}
	}
}

// crashBatch returns batch n: 1 to 6 self-checking records of bytes from
// pool, mostly small, sometimes large enough to take several writes; one
// batch in 25 has 16 to 32 records of 16 to 32 KiB, a window of many writes
// for a kill to land in.
func crashBatch(rng *rand.Rand, pool []byte, n uint64) Batch {
	count, small, large := 1+rng.IntN(6), 2<<10, 20<<10+rng.IntN(60<<10)
	if rng.IntN(25) == 0 {
		count, small, large = 16+rng.IntN(17), 16<<10+rng.IntN(16<<10), 0
	}
	b := Batch{Position: binary.BigEndian.AppendUint64(nil, n), Records: make([][]byte, count)}
	for j := range b.Records {
		size := rng.IntN(small)
		if large > 0 && rng.IntN(10) == 0 {
			size = large
		}
		r := binary.BigEndian.AppendUint64(nil, n)
		r = binary.BigEndian.AppendUint32(r, uint32(j))
		r = binary.BigEndian.AppendUint32(r, uint32(len(b.Records)))
		from := rng.IntN(len(pool) - size)
		r = append(r, pool[from:from+size]...)
		b.Records[j] = binary.BigEndian.AppendUint32(r, crc32.Checksum(r, castagnoli()))
	}
	return b
}

// checkCrashRecord checks that r is record j of count of batch n, intact.
func checkCrashRecord(r []byte, n uint64, j, count int) error {
	if len(r) < 20 {
		return fmt.Errorf("record %d: got %d bytes, want 20 at least", j, len(r))
	}
	body := r[:len(r)-4]
	if got, want := binary.BigEndian.Uint32(r[len(r)-4:]), crc32.Checksum(body, castagnoli()); got != want {
		return fmt.Errorf("record %d: got checksum %08x, want %08x", j, got, want)
	}
	gotN, gotJ, gotCount := binary.BigEndian.Uint64(r), int(binary.BigEndian.Uint32(r[8:])), int(binary.BigEndian.Uint32(r[12:]))
	if gotN != n || gotJ != j || gotCount != count {
		return fmt.Errorf("got record %d of %d of batch %d, want record %d of %d of batch %d", gotJ, gotCount, gotN, j, count, n)
	}
	return nil
}

package lsm_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// childRootEnv makes the test binary, re-executed by TestSweepKilledOwner, run workDirChild
// instead of the tests.
const childRootEnv = "STREAMSTATE_LSM_CHILD_ROOT"

func TestMain(m *testing.M) {
	if root := os.Getenv(childRootEnv); root != "" {
		if err := workDirChild(root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func sweepOptions(root string) lsm.Options {
	return lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
		KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()}, Dir: root}
}

// workDirChild opens a backend in root, writes state, prints the working directory and
// waits to be killed.
func workDirChild(root string) error {
	b, err := lsm.New(context.Background(), sweepOptions(root))
	if err != nil {
		return err
	}
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	if err != nil {
		return err
	}
	v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v"})
	if err != nil {
		return err
	}
	for k := int64(0); k < 1000; k++ {
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		if err := v.Update(strings.Repeat("x", 100)); err != nil {
			return err
		}
	}
	if err := b.CommitWrites(); err != nil {
		return err
	}
	if err := b.DB().Flush(); err != nil {
		return err
	}
	fmt.Println("workdir " + b.WorkingDir())
	time.Sleep(time.Minute) // killed long before
	return errors.New("not killed")
}

// TestSweepKilledOwner: a process killed with SIGKILL leaves its working directory behind; the
// next backend started in the same root removes it, and never a directory whose owner lives —
// another process or this one.
func TestSweepKilledOwner(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRootEnv+"="+root)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if dir, ok := strings.CutPrefix(sc.Text(), "workdir "); ok {
				lines <- dir
				return
			}
		}
		close(lines)
	}()
	var childDir string
	select {
	case d, ok := <-lines:
		if !ok {
			t.Fatal("the child exited without opening a backend")
		}
		childDir = d
	case <-time.After(60 * time.Second):
		t.Fatal("the child did not open a backend")
	}
	if filepath.Dir(childDir) != root {
		t.Fatalf("child's working directory %s is not in the root %s", childDir, root)
	}
	lock, err := os.ReadFile(filepath.Join(childDir, "streamstate.lock"))
	must(t, err)
	if want := "pid " + strconv.Itoa(cmd.Process.Pid); !strings.Contains(string(lock), want) {
		t.Fatalf("lock file %q does not name its owner (%s)", lock, want)
	}

	// The child lives: a backend started now leaves its directory alone.
	live, err := lsm.New(context.Background(), sweepOptions(root))
	must(t, err)
	defer live.Close()
	if _, err := os.Stat(filepath.Join(childDir, "db")); err != nil {
		t.Fatalf("the working directory of a live process was touched: %v", err)
	}

	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed = true
	if _, err := os.Stat(childDir); err != nil {
		t.Fatalf("SIGKILL did not leave the working directory behind: %v", err)
	}

	// The next start removes it, and leaves this process's live backend alone.
	next, err := lsm.New(context.Background(), sweepOptions(root))
	must(t, err)
	if _, err := os.Stat(childDir); !os.IsNotExist(err) {
		t.Fatalf("the working directory of the killed process is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(live.WorkingDir(), "db")); err != nil {
		t.Fatalf("the working directory of a live backend of this process was touched: %v", err)
	}
	must(t, next.Close())
	must(t, live.Close())
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Fatalf("closed backends left %v in %s", left, root)
	}
}

// TestSweepLeavesOthersAlone: entries of the root that are not working directories, working
// directories being created (empty lock file, not yet locked) and directories without a lock
// file (another program's, or a running older version's), however old, are never removed;
// unlocked ones with an owner record, or an empty record for over an hour, are.
func TestSweepLeavesOthersAlone(t *testing.T) {
	root := t.TempDir()
	longAgo := time.Now().Add(-2 * time.Hour)
	mkdir := func(name string, lock []byte, mtime time.Time) string {
		dir := filepath.Join(root, name)
		must(t, os.MkdirAll(filepath.Join(dir, "db"), 0o755))
		if lock != nil {
			must(t, os.WriteFile(filepath.Join(dir, "streamstate.lock"), lock, 0o644))
		}
		if !mtime.IsZero() {
			must(t, os.Chtimes(dir, mtime, mtime))
		}
		return dir
	}
	keep := []string{
		mkdir("unrelated", []byte("pid 1\n"), time.Time{}),
		mkdir("streamstate-lsm-op-creating", []byte{}, time.Time{}),
		mkdir("streamstate-lsm-op-nolock", nil, longAgo),
	}
	gone := []string{
		mkdir("streamstate-lsm-op-gone", []byte("pid 1\nstart x\n"), time.Time{}),
		mkdir("streamstate-lsm-op-abandoned", []byte{}, longAgo),
	}
	b, err := lsm.New(context.Background(), sweepOptions(root))
	must(t, err)
	defer b.Close()
	for _, dir := range keep {
		if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
			t.Errorf("%s was removed: %v", dir, err)
		}
	}
	for _, dir := range gone {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the abandoned working directory %s is still there: %v", dir, err)
		}
	}
}

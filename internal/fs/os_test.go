package fs

import (
	"bufio"
	"errors"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOSLockNamesPathAndHolder(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	l, err := OS().Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data, err := os.ReadFile(name)
	if want := strconv.Itoa(os.Getpid()) + "\n"; err != nil || string(data) != want {
		t.Errorf("lock file = %q, %v; want %q", data, err, want)
	}
	_, err = OS().Lock(name)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v", err)
	}
	for _, want := range []string{name, "held by pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestOSLockMissingDir(t *testing.T) {
	_, err := OS().Lock(filepath.Join(t.TempDir(), "missing", "LOCK"))
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("Lock in a missing directory: %v", err)
	}
}

// lockHelperEnv makes the test binary, run again as a child, hold a lock
// until its stdin closes.
const lockHelperEnv = "LOFT_FS_LOCK_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(lockHelperEnv); name != "" {
		os.Exit(holdLock(name))
	}
	os.Exit(m.Run())
}

func holdLock(name string) int {
	l, err := OS().Lock(name)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	os.Stdout.WriteString("locked\n")
	os.Stdin.Read(make([]byte, 1))
	l.Close()
	return 0
}

// TestOSLockOtherProcess checks the case Lock exists for: a second broker
// process, told who holds the lock, and a SIGKILLed holder not leaving it
// stuck.
func TestOSLockOtherProcess(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err = OS().Lock(name)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Lock held by another process: %v", err)
	} else if want := "held by pid " + strconv.Itoa(cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	cmd.Process.Kill()
	cmd.Wait()
	l, err := OS().Lock(name)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	l.Close()
}

func TestOSSyncDirMissing(t *testing.T) {
	err := OS().SyncDir(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: %v", err)
	}
}

func TestOSSyncAfterClose(t *testing.T) {
	f, err := OS().Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
}

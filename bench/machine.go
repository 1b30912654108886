package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
)

// machine describes where the figures were taken, for the JSON results.
type machine struct {
	CPUs     int               `json:"cpus"`
	CPUModel string            `json:"cpu_model"`
	MemTotal string            `json:"mem_total"`
	Kernel   string            `json:"kernel"`
	OS       string            `json:"os"`
	Go       string            `json:"go"`
	Arch     string            `json:"arch"`
	DataDir  string            `json:"data_dir"`
	DataFS   string            `json:"data_fs"` // df -T of the data directory
	Commit   string            `json:"commit"`  // of the harness's checkout
	Clients  map[string]string `json:"clients"` // client library versions
}

func describeMachine(dataDir string) machine {
	m := machine{
		CPUs:     runtime.NumCPU(),
		CPUModel: procField("/proc/cpuinfo", "model name"),
		MemTotal: procField("/proc/meminfo", "MemTotal"),
		Go:       runtime.Version(),
		Arch:     runtime.GOARCH,
		DataDir:  dataDir,
		Clients:  map[string]string{},
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`)
	if out, err := exec.Command("df", "-T", dataDir).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		m.DataFS = strings.Join(strings.Fields(lines[len(lines)-1]), " ")
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			switch d.Path {
			case "github.com/rabbitmq/amqp091-go", "github.com/nats-io/nats.go", "github.com/twmb/franz-go":
				m.Clients[d.Path] = d.Version
			}
		}
	}
	return m
}

// procField returns the value of the first "key: value" or "key=value"
// line of a file such as /proc/cpuinfo.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			k, v, ok = strings.Cut(sc.Text(), "=")
		}
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

package amqpbench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// startRabbitMQ runs a RabbitMQ node of its own, default settings but for
// a loopback listener on a free port, everything (database, logs, Erlang
// cookie, epmd) under a fresh directory, and returns a client that
// declares its queues with args.
//
// Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user, which
// cannot write to our directory, so the script behind it is preferred.
func startRabbitMQ(b *testing.B, args amqp.Table) client {
	bin := findBinary(b, "/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server")
	dir := dataDir(b, "rabbitmq-data-")
	port := freePort(b)
	conf := filepath.Join(dir, "rabbitmq.conf")
	write(b, conf, fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\n", port))
	write(b, filepath.Join(dir, "enabled_plugins"), "[].\n")

	env := append(os.Environ(),
		"HOME="+dir, // the Erlang cookie goes there
		"RABBITMQ_NODENAME=loftbench"+strconv.Itoa(port)+"@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(freePort(b)),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
	)
	// An epmd of our own on a free port, stopped with the node: the Erlang
	// VM would otherwise start a shared daemon that outlives the benchmark.
	if epmd, err := exec.LookPath("epmd"); err == nil {
		epmdPort := strconv.Itoa(freePort(b))
		p := startProc(b, "epmd", exec.Command(epmd, "-port", epmdPort, "-address", "127.0.0.1"),
			filepath.Join(dir, "epmd.log"))
		p.waitReady(b, 10*time.Second, func() error { return dialTCP("127.0.0.1:" + epmdPort) })
		env = append(env, "ERL_EPMD_PORT="+epmdPort)
	}
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = dir, env
	p := startProc(b, "rabbitmq-server", cmd, filepath.Join(dir, "rabbitmq.log"))
	c := &amqpClient{url: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port), args: args}
	p.waitReady(b, 120*time.Second, func() error {
		conn, _, err := dialAMQP(c.url)
		if err == nil {
			closeAMQP(conn)
		}
		return err
	})
	return c
}

func dialTCP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return err
}

func write(b *testing.B, path, content string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// broker is a server under test: how to start it, and what it promises
// about durability when it acknowledges a message.
type broker struct {
	name       string
	label      string // for tables: "RabbitMQ classic"
	durability string // the settings that make its acknowledgements durable, and when it syncs
	fsyncs     bool   // whether an acknowledgement follows an fsync covering the message
	// reference marks a yardstick rather than a competitor: it is
	// measured and shown, but no target is judged against it.
	reference bool
	start     func(ctx context.Context, cfg *config, dir string) (*running, error)
}

// brokers lists every broker the harness knows, in the order of a run.
var brokers = []broker{
	{
		name:  "loft",
		label: "Loft",
		durability: "--fsync always: a publisher confirm (and a Kafka acks=all response) is sent " +
			"only after fdatasync covered the message (group commit)",
		fsyncs: true,
		start:  startLoft,
	},
	{
		name:  "rabbitmq",
		label: "RabbitMQ classic",
		durability: "durable classic queue, persistent messages (delivery mode 2), publisher confirms; " +
			"default settings: the message store fsyncs in batches and confirms after the sync",
		fsyncs: true,
		start: func(ctx context.Context, cfg *config, dir string) (*running, error) {
			return startRabbitMQ(ctx, dir, nil)
		},
	},
	{
		name:  "rabbitmq-quorum",
		label: "RabbitMQ quorum",
		durability: "durable quorum queue (one node), persistent messages, publisher confirms; " +
			"default settings: the Raft WAL fsyncs in batches and confirms after the sync",
		fsyncs: true,
		start: func(ctx context.Context, cfg *config, dir string) (*running, error) {
			return startRabbitMQ(ctx, dir, amqp.Table{"x-queue-type": "quorum"})
		},
	},
	{
		name:  "nats",
		label: "NATS JetStream",
		durability: "file-storage stream, publish acks, explicit consumer acks; default settings: " +
			"acknowledges before fsync and syncs in the background (sync_interval, 2 min by default)",
		fsyncs: false,
		start: func(ctx context.Context, cfg *config, dir string) (*running, error) {
			return startNATS(ctx, dir)
		},
	},
	{
		name:  "amqp-null",
		label: "AMQP null broker",
		durability: "stores nothing: confirms each publish when its body has arrived and delivers from memory; " +
			"the ceiling any AMQP broker can reach here through amqp091-go (bench null-amqp)",
		reference: true,
		start: func(ctx context.Context, cfg *config, dir string) (*running, error) {
			return startNullAMQP(ctx, dir)
		},
	},
}

func brokerByName(name string) (broker, bool) {
	for _, b := range brokers {
		if b.name == name {
			return b, true
		}
	}
	return broker{}, false
}

// running is a started broker.
type running struct {
	client  client
	version string
	kafka   string  // the Kafka listener (Loft only)
	dir     string  // its directory, on the disk under test
	procs   []*proc // stopped last first
}

// pgid is the broker's process group (the last started process leads it).
func (r *running) pgid() int { return r.procs[len(r.procs)-1].pid() }

// stop ends every process the broker started.
func (r *running) stop() error {
	var errs []error
	for i := len(r.procs) - 1; i >= 0; i-- {
		errs = append(errs, r.procs[i].stop(30*time.Second))
	}
	return errors.Join(errs...)
}

// startLoft runs `loft serve` with its three listeners on free loopback
// ports, fsyncing before every acknowledgement.
func startLoft(ctx context.Context, cfg *config, dir string) (*running, error) {
	for attempt := 1; ; attempt++ {
		r, err := tryStartLoft(ctx, cfg, dir)
		// Another process may take a port between our probe and loft's
		// bind: try new ones.
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return r, err
		}
	}
}

func tryStartLoft(ctx context.Context, cfg *config, dir string) (*running, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	data := filepath.Join(dir, "data")
	args := []string{"serve", "--data-dir", data,
		"--amqp-addr", addr(0), "--kafka-addr", addr(1), "--http-addr", addr(2),
		"--fsync", "always", "--log-level", "warn"}
	p, err := startProc("loft", exec.Command(cfg.loft, args...), filepath.Join(dir, "loft.log"))
	if err != nil {
		return nil, err
	}
	r := &running{client: &amqpClient{url: "amqp://guest:guest@" + addr(0) + "/"}, kafka: addr(1), procs: []*proc{p}}
	err = p.waitReady(ctx, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr(2) + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s %s", resp.Status, body)
		}
		return nil
	})
	if err != nil {
		_ = r.stop()
		return nil, err
	}
	out, err := exec.Command(cfg.loft, "version").Output()
	r.version = strings.TrimSpace(string(out))
	if err != nil {
		r.version = "unknown"
	}
	return r, nil
}

// startRabbitMQ runs a RabbitMQ node of its own: default settings but for
// a loopback listener on a free port, everything (database, logs, Erlang
// cookie, an epmd of its own) under dir, so that it needs no free default
// port and leaves nothing running. Queues are declared with args.
//
// Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user, who
// cannot write to dir, so the script behind it comes first.
func startRabbitMQ(ctx context.Context, dir string, args amqp.Table) (*running, error) {
	bin, err := findBinary("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	port, dist, epmdPort := strconv.Itoa(ports[0]), strconv.Itoa(ports[1]), strconv.Itoa(ports[2])
	conf := filepath.Join(dir, "rabbitmq.conf")
	if err := os.WriteFile(conf, []byte("listeners.tcp.1 = 127.0.0.1:"+port+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"HOME="+dir, // the Erlang cookie goes there
		"RABBITMQ_NODENAME=loftbench"+port+"@localhost",
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+port,
		"RABBITMQ_DIST_PORT="+dist,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_LOGS=-",
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
	)
	r := &running{client: &amqpClient{url: "amqp://guest:guest@127.0.0.1:" + port + "/", args: args}}
	// Without an epmd of our own the Erlang VM would start a shared one
	// that outlives the run.
	if epmd, err := exec.LookPath("epmd"); err == nil {
		p, err := startProc("epmd", exec.Command(epmd, "-port", epmdPort, "-address", "127.0.0.1"), filepath.Join(dir, "epmd.log"))
		if err != nil {
			return nil, err
		}
		r.procs = append(r.procs, p)
		if err := p.waitReady(ctx, 10*time.Second, func() error { return dialTCP("127.0.0.1:" + epmdPort) }); err != nil {
			_ = r.stop()
			return nil, err
		}
		env = append(env, "ERL_EPMD_PORT="+epmdPort)
	}
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = dir, env
	p, err := startProc("rabbitmq-server", cmd, filepath.Join(dir, "rabbitmq.log"))
	if err != nil {
		_ = r.stop()
		return nil, err
	}
	r.procs = append(r.procs, p)
	url := r.client.(*amqpClient).url
	err = p.waitReady(ctx, 120*time.Second, func() error {
		v, err := serverVersion(url)
		if err == nil {
			r.version = v
		}
		return err
	})
	if err != nil {
		_ = r.stop()
		return nil, err
	}
	return r, nil
}

// startNATS runs nats-server with JetStream, default settings, its store
// under dir, on a free loopback port.
func startNATS(ctx context.Context, dir string) (*running, error) {
	bin, err := findBinary("nats-server")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ports[0])
	cmd := exec.Command(bin, "-js", "-sd", filepath.Join(dir, "store"), "-a", "127.0.0.1", "-p", port)
	p, err := startProc("nats-server", cmd, filepath.Join(dir, "nats.log"))
	if err != nil {
		return nil, err
	}
	c := &natsClient{url: "nats://127.0.0.1:" + port}
	r := &running{client: c, procs: []*proc{p}}
	err = p.waitReady(ctx, 30*time.Second, func() error {
		nc, js, err := c.connect(func(error) {})
		if err != nil {
			return err
		}
		defer nc.Close()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := js.AccountInfo(actx); err != nil {
			return err
		}
		r.version = "nats-server " + nc.ConnectedServerVersion()
		return nil
	})
	if err != nil {
		_ = r.stop()
		return nil, err
	}
	return r, nil
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newClientCmds returns the commands that talk to a running broker.
func newClientCmds(lookupEnv func(string) (string, bool)) []*cobra.Command {
	c := &apiClient{}
	cmds := []*cobra.Command{
		newStatusCmd(c), newQueueCmd(c), newExchangeCmd(c), newBindCmd(c), newPublishCmd(c),
		newConsumeCmd(c), newDefinitionsCmd(c), newUserCmd(c), newTopicCmd(c), newGroupCmd(c),
	}
	for _, cmd := range cmds {
		addClientFlags(cmd, c, lookupEnv)
		pre := cmd.PersistentPreRun
		cmd.PersistentPreRun = func(cmd *cobra.Command, args []string) {
			c.out = cmd.OutOrStdout()
			if pre != nil {
				pre(cmd, args)
			}
		}
	}
	return cmds
}

func newStatusCmd(c *apiClient) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the broker's version, totals and health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ov map[string]any
			if err := c.do(cmd.Context(), "GET", "/api/overview", nil, &ov); err != nil {
				return err
			}
			var alarms map[string]any
			health := "ok"
			if err := c.do(cmd.Context(), "GET", "/api/health/checks/alarms", nil, &alarms); err != nil {
				health = err.Error()
			}
			ov["health"] = health
			q, _ := ov["queue_totals"].(map[string]any)
			o, _ := ov["object_totals"].(map[string]any)
			return c.print(ov, []string{"NODE", "VERSION", "QUEUES", "MESSAGES", "CONSUMERS", "HEALTH"}, [][]string{{
				str(ov["node"]), str(ov["product_version"]), str(o["queues"]), str(q["messages"]), str(o["consumers"]), health,
			}})
		},
	}
}

func newQueueCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "List, declare, delete, purge and read queues"}
	list := &cobra.Command{
		Use: "list", Short: "List the queues of the vhost", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var qs []map[string]any
			if err := c.do(cmd.Context(), "GET", c.vpath("queues"), nil, &qs); err != nil {
				return err
			}
			var rows [][]string
			for _, q := range qs {
				rows = append(rows, []string{str(q["name"]), str(q["type"]), str(q["durable"]), str(q["messages"]),
					str(q["messages_ready"]), str(q["messages_unacknowledged"]), str(q["consumers"]), str(q["policy"])})
			}
			return c.print(qs, []string{"NAME", "TYPE", "DURABLE", "MESSAGES", "READY", "UNACKED", "CONSUMERS", "POLICY"}, rows)
		},
	}
	var durable, autoDelete bool
	var args []string
	declare := &cobra.Command{
		Use: "declare NAME", Short: "Declare a queue (arguments as --arg x-max-length=100)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			xargs, err := parseArgs(args)
			if err != nil {
				return err
			}
			body := map[string]any{"durable": durable, "auto_delete": autoDelete, "arguments": xargs}
			if err := c.do(cmd.Context(), "PUT", c.vpath("queues", a[0]), body, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "queue %s declared\n", a[0])
			return nil
		},
	}
	declare.Flags().BoolVar(&durable, "durable", true, "survive a restart")
	declare.Flags().BoolVar(&autoDelete, "auto-delete", false, "delete when the last consumer goes")
	declare.Flags().StringArrayVar(&args, "arg", nil, "an argument, key=value (repeatable)")
	var ifEmpty, ifUnused bool
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a queue", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			p := c.vpath("queues", a[0]) + fmt.Sprintf("?if-empty=%t&if-unused=%t", ifEmpty, ifUnused)
			if err := c.do(cmd.Context(), "DELETE", p, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "queue %s deleted\n", a[0])
			return nil
		},
	}
	del.Flags().BoolVar(&ifEmpty, "if-empty", false, "only if it holds no ready message")
	del.Flags().BoolVar(&ifUnused, "if-unused", false, "only if it has no consumer")
	purge := &cobra.Command{
		Use: "purge NAME", Short: "Remove a queue's ready messages", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.do(cmd.Context(), "DELETE", c.vpath("queues", a[0], "contents"), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "queue %s purged\n", a[0])
			return nil
		},
	}
	var count int
	var ack bool
	get := &cobra.Command{
		Use: "get NAME", Short: "Look at messages of a queue (put back unless --ack)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			mode := "ack_requeue_true"
			if ack {
				mode = "ack_requeue_false"
			}
			ms, err := c.get(cmd, a[0], count, mode)
			if err != nil {
				return err
			}
			return c.printMessages(ms)
		},
	}
	get.Flags().IntVar(&count, "count", 1, "how many")
	get.Flags().BoolVar(&ack, "ack", false, "take them off the queue")
	cmd.AddCommand(list, declare, del, purge, get)
	return cmd
}

// get takes up to count messages of a queue with ackmode.
func (c *apiClient) get(cmd *cobra.Command, queue string, count int, mode string) ([]map[string]any, error) {
	var ms []map[string]any
	body := map[string]any{"count": count, "ackmode": mode, "encoding": "auto"}
	err := c.do(cmd.Context(), "POST", c.vpath("queues", queue, "get"), body, &ms)
	return ms, err
}

func (c *apiClient) printMessages(ms []map[string]any) error {
	if c.output == "json" {
		for _, m := range ms {
			b, _ := json.Marshal(m)
			fmt.Fprintln(c.out, string(b))
		}
		return nil
	}
	var rows [][]string
	for _, m := range ms {
		rows = append(rows, []string{str(m["routing_key"]), str(m["redelivered"]), str(m["payload"])})
	}
	return c.print(ms, []string{"ROUTING KEY", "REDELIVERED", "PAYLOAD"}, rows)
}

func newExchangeCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "exchange", Short: "List, declare and delete exchanges"}
	list := &cobra.Command{
		Use: "list", Short: "List the exchanges of the vhost", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var xs []map[string]any
			if err := c.do(cmd.Context(), "GET", c.vpath("exchanges"), nil, &xs); err != nil {
				return err
			}
			var rows [][]string
			for _, x := range xs {
				name := str(x["name"])
				if name == "" {
					name = "(default)"
				}
				rows = append(rows, []string{name, str(x["type"]), str(x["durable"]), str(x["arguments"])})
			}
			return c.print(xs, []string{"NAME", "TYPE", "DURABLE", "ARGUMENTS"}, rows)
		},
	}
	var kind string
	var durable, autoDelete, internal bool
	var args []string
	declare := &cobra.Command{
		Use: "declare NAME", Short: "Declare an exchange", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			xargs, err := parseArgs(args)
			if err != nil {
				return err
			}
			body := map[string]any{"type": kind, "durable": durable, "auto_delete": autoDelete, "internal": internal, "arguments": xargs}
			if err := c.do(cmd.Context(), "PUT", c.vpath("exchanges", a[0]), body, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "exchange %s declared\n", a[0])
			return nil
		},
	}
	declare.Flags().StringVar(&kind, "type", "direct", "direct, fanout, topic, headers, x-delayed-message, x-message-deduplication")
	declare.Flags().BoolVar(&durable, "durable", true, "survive a restart")
	declare.Flags().BoolVar(&autoDelete, "auto-delete", false, "delete when the last binding goes")
	declare.Flags().BoolVar(&internal, "internal", false, "no direct publishing")
	declare.Flags().StringArrayVar(&args, "arg", nil, "an argument, key=value (repeatable)")
	var ifUnused bool
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete an exchange", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.do(cmd.Context(), "DELETE", c.vpath("exchanges", a[0])+fmt.Sprintf("?if-unused=%t", ifUnused), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "exchange %s deleted\n", a[0])
			return nil
		},
	}
	del.Flags().BoolVar(&ifUnused, "if-unused", false, "only if it has no binding")
	cmd.AddCommand(list, declare, del)
	return cmd
}

func newBindCmd(c *apiClient) *cobra.Command {
	var source, dest, destType, key string
	var args []string
	var unbind bool
	cmd := &cobra.Command{
		Use:   "bind --source EXCHANGE --destination QUEUE [--key KEY]",
		Short: "Bind a queue (or an exchange, or a Kafka topic as kafka:TOPIC) to an exchange",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind := "q"
			if destType == "exchange" {
				kind = "e"
			} else if destType != "queue" {
				return fmt.Errorf("--destination-type %q: queue or exchange", destType)
			}
			xargs, err := parseArgs(args)
			if err != nil {
				return err
			}
			base := c.vpath("bindings", "e", source, kind, dest)
			if !unbind {
				if err := c.do(cmd.Context(), "POST", base, map[string]any{"routing_key": key, "arguments": xargs}, nil); err != nil {
					return err
				}
				fmt.Fprintf(c.out, "bound %s to %s with key %q\n", dest, source, key)
				return nil
			}
			var bs []map[string]any
			if err := c.do(cmd.Context(), "GET", base, nil, &bs); err != nil {
				return err
			}
			for _, b := range bs {
				if b["routing_key"] == key {
					if err := c.do(cmd.Context(), "DELETE", base+path(str(b["properties_key"])), nil, nil); err != nil {
						return err
					}
					fmt.Fprintf(c.out, "unbound %s from %s with key %q\n", dest, source, key)
					return nil
				}
			}
			return fmt.Errorf("no binding of %s to %s with key %q", dest, source, key)
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "the exchange")
	cmd.Flags().StringVar(&dest, "destination", "", "the queue, exchange, or kafka:TOPIC")
	cmd.Flags().StringVar(&destType, "destination-type", "queue", "queue or exchange")
	cmd.Flags().StringVar(&key, "key", "", "the routing key (pattern)")
	cmd.Flags().StringArrayVar(&args, "arg", nil, "a binding argument, key=value (repeatable)")
	cmd.Flags().BoolVar(&unbind, "unbind", false, "remove the binding instead")
	cmd.MarkFlagRequired("source")
	cmd.MarkFlagRequired("destination")
	return cmd
}

func newPublishCmd(c *apiClient) *cobra.Command {
	var exchange, key, file, topic, recordKey string
	var headers, props []string
	var lines bool
	cmd := &cobra.Command{
		Use:   "publish [BODY]",
		Short: "Publish to an exchange, or with --topic to a topic (body from the argument, --file or stdin; --lines: one per line)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			h, err := parseArgs(headers)
			if err != nil {
				return err
			}
			if topic != "" {
				var bodies []string
				switch {
				case len(a) == 1:
					bodies = a
				case file != "":
					b, err := os.ReadFile(file)
					if err != nil {
						return err
					}
					bodies = []string{string(b)}
				case lines:
					if bodies, err = readLines(cmd.InOrStdin()); err != nil {
						return err
					}
				default:
					b, err := io.ReadAll(cmd.InOrStdin())
					if err != nil {
						return err
					}
					bodies = []string{string(b)}
				}
				if err := c.publishTopic(cmd, topic, recordKey, h, bodies); err != nil {
					return err
				}
				if lines {
					fmt.Fprintf(c.out, "%d records published\n", len(bodies))
				}
				return nil
			}
			p := map[string]any{}
			for _, kv := range props {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--property %q: want name=value", kv)
				}
				p[strings.ReplaceAll(k, "-", "_")] = v
			}
			for _, k := range []string{"delivery_mode", "priority", "timestamp"} {
				if v, ok := p[k]; ok {
					var n int64
					if _, err := fmt.Sscan(v.(string), &n); err != nil {
						return fmt.Errorf("--property %s: want a number", k)
					}
					p[k] = n
				}
			}
			if len(h) > 0 {
				p["headers"] = h
			}
			send := func(body string) error {
				var out struct{ Routed bool }
				req := map[string]any{"routing_key": key, "payload": body, "payload_encoding": "string", "properties": p}
				x := exchange
				if x == "" {
					x = "amq.default"
				}
				if err := c.do(cmd.Context(), "POST", c.vpath("exchanges", x, "publish"), req, &out); err != nil {
					return err
				}
				if !out.Routed {
					return fmt.Errorf("the message was routed nowhere (exchange %q, key %q)", exchange, key)
				}
				return nil
			}
			switch {
			case len(a) == 1:
				return send(a[0])
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				return send(string(b))
			case lines:
				sc := bufio.NewScanner(cmd.InOrStdin())
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				n := 0
				for sc.Scan() {
					if err := send(sc.Text()); err != nil {
						return fmt.Errorf("line %d: %w", n+1, err)
					}
					n++
				}
				if err := sc.Err(); err != nil {
					return err
				}
				fmt.Fprintf(c.out, "%d messages published\n", n)
				return nil
			}
			b, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return send(string(b))
		},
	}
	cmd.Flags().StringVar(&exchange, "exchange", "", "the exchange (default: the default exchange)")
	cmd.Flags().StringVar(&topic, "topic", "", "publish records to this topic instead")
	cmd.Flags().StringVar(&recordKey, "key", "", "with --topic: the record key (picks the partition)")
	cmd.Flags().StringVar(&key, "routing-key", "", "the routing key")
	cmd.Flags().StringVar(&file, "file", "", "read the body from a file")
	cmd.Flags().BoolVar(&lines, "lines", false, "publish each line of stdin as a message")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "a header, key=value (repeatable)")
	cmd.Flags().StringArrayVar(&props, "property", nil, "a property, e.g. message-id=42, content-type=text/plain, delivery-mode=2 (repeatable)")
	return cmd
}

func newConsumeCmd(c *apiClient) *cobra.Command {
	var queue, topic, from string
	var count, partition int
	var follow bool
	cmd := &cobra.Command{
		Use:   "consume --queue QUEUE | --topic TOPIC [--from earliest|latest|OFFSET|@MS] [--count N] [--follow]",
		Short: "Take messages off a queue, or tail a topic, and print them (--follow: keep going until Ctrl-C)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (queue == "") == (topic == "") {
				return fmt.Errorf("give --queue or --topic")
			}
			if topic != "" {
				return c.tailTopic(cmd, topic, partition, from, count, follow)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			cmd.SetContext(ctx)
			got := 0
			for count <= 0 || got < count {
				want := 100
				if count > 0 {
					want = min(want, count-got)
				}
				ms, err := c.get(cmd, queue, want, "ack_requeue_false")
				if ctx.Err() != nil {
					return nil // Ctrl-C: a clean stop
				}
				if err != nil {
					return err
				}
				for _, m := range ms {
					if c.output == "json" {
						b, _ := json.Marshal(m)
						fmt.Fprintln(c.out, string(b))
					} else {
						fmt.Fprintln(c.out, str(m["payload"]))
					}
				}
				got += len(ms)
				if len(ms) == 0 {
					if !follow {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&queue, "queue", "", "the queue")
	cmd.Flags().StringVar(&topic, "topic", "", "the topic")
	cmd.Flags().IntVar(&partition, "partition", 0, "with --topic: the partition")
	cmd.Flags().StringVar(&from, "from", "earliest", "with --topic: earliest, latest, an offset, or @ms-since-epoch")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many (0: all there are)")
	cmd.Flags().BoolVar(&follow, "follow", false, "wait for more until Ctrl-C")
	return cmd
}

func newDefinitionsCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "definitions", Short: "Export or import the whole topology (RabbitMQ's format)"}
	var file string
	export := &cobra.Command{
		Use: "export", Short: "Write the definitions to stdout or --file", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var d json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/definitions", nil, &d); err != nil {
				return err
			}
			if file != "" {
				return os.WriteFile(file, append(d, '\n'), 0o600)
			}
			_, err := fmt.Fprintln(c.out, string(d))
			return err
		},
	}
	export.Flags().StringVar(&file, "file", "", "write to this file")
	imp := &cobra.Command{
		Use: "import FILE", Short: "Make what a definitions file holds", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			b, err := os.ReadFile(a[0])
			if err != nil {
				return err
			}
			var d json.RawMessage
			if err := json.Unmarshal(b, &d); err != nil {
				return fmt.Errorf("%s is not JSON: %v", a[0], err)
			}
			if err := c.do(cmd.Context(), "POST", "/api/definitions", d, nil); err != nil {
				return err
			}
			fmt.Fprintln(c.out, "definitions imported")
			return nil
		},
	}
	cmd.AddCommand(export, imp)
	return cmd
}

func newUserCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Add, delete, list users and change passwords"}
	var tags string
	add := &cobra.Command{
		Use: "add NAME PASSWORD [--tags management,policymaker]", Short: "Add a user", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var existing map[string]any
			if err := c.do(cmd.Context(), "GET", path("api", "users", a[0]), nil, &existing); err == nil {
				return fmt.Errorf("user %s exists already", a[0])
			}
			if err := c.do(cmd.Context(), "PUT", path("api", "users", a[0]), map[string]any{"password": a[1], "tags": tags}, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "user %s added\n", a[0])
			return nil
		},
	}
	add.Flags().StringVar(&tags, "tags", "", "comma-separated tags: administrator, monitoring, policymaker, management")
	passwd := &cobra.Command{
		Use: "passwd NAME NEW-PASSWORD", Short: "Change a user's password", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			var u map[string]any
			if err := c.do(cmd.Context(), "GET", path("api", "users", a[0]), nil, &u); err != nil {
				return err
			}
			body := map[string]any{"password": a[1], "tags": u["tags"]}
			if err := c.do(cmd.Context(), "PUT", path("api", "users", a[0]), body, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "password of %s changed\n", a[0])
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.do(cmd.Context(), "DELETE", path("api", "users", a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "user %s deleted\n", a[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var us []map[string]any
			if err := c.do(cmd.Context(), "GET", "/api/users", nil, &us); err != nil {
				return err
			}
			var rows [][]string
			for _, u := range us {
				rows = append(rows, []string{str(u["name"]), str(u["tags"])})
				delete(u, "password_hash")
			}
			return c.print(us, []string{"NAME", "TAGS"}, rows)
		},
	}
	cmd.AddCommand(add, passwd, del, list)
	return cmd
}

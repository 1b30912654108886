package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newTopicCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe, alter and delete topics"}
	list := &cobra.Command{
		Use: "list", Short: "List topics", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ts []map[string]any
			if err := c.do(cmd.Context(), "GET", "/api/v1/topics", nil, &ts); err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				rows = append(rows, []string{str(t["name"]), str(t["partition_count"])})
			}
			return c.print(ts, []string{"NAME", "PARTITIONS"}, rows)
		},
	}
	var partitions int
	var configs []string
	create := &cobra.Command{
		Use: "create NAME [--partitions N] [--config k=v]", Short: "Create a topic", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cfg, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			body := map[string]any{"name": a[0], "configs": cfg}
			if partitions > 0 {
				body["partitions"] = partitions
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/topics", body, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "topic %s created\n", a[0])
			return nil
		},
	}
	create.Flags().IntVar(&partitions, "partitions", 0, "partitions (default: the broker's)")
	create.Flags().StringArrayVar(&configs, "config", nil, "a topic config, key=value (repeatable)")
	describe := &cobra.Command{
		Use: "describe NAME", Short: "Show a topic's partitions and configs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var t map[string]any
			if err := c.do(cmd.Context(), "GET", path("api", "v1", "topics", a[0]), nil, &t); err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(t, nil, nil)
			}
			var rows [][]string
			parts, _ := t["partitions"].([]any)
			for _, p := range parts {
				p, _ := p.(map[string]any)
				rows = append(rows, []string{str(p["partition"]), str(p["start_offset"]), str(p["end_offset"])})
			}
			if err := c.print(t, []string{"PARTITION", "START", "END"}, rows); err != nil {
				return err
			}
			cfgs, _ := t["configs"].([]any)
			for _, x := range cfgs {
				x, _ := x.(map[string]any)
				if x["default"] == false {
					fmt.Fprintf(c.out, "%s=%s\n", str(x["name"]), str(x["value"]))
				}
			}
			return nil
		},
	}
	alter := &cobra.Command{
		Use: "alter NAME --config k=v [--config k=]", Short: "Set topic configs (an empty value resets one)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			patch := map[string]any{}
			for _, kv := range configs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--config %q: want key=value", kv)
				}
				if v == "" {
					patch[k] = nil
				} else {
					patch[k] = v
				}
			}
			if len(patch) == 0 {
				return fmt.Errorf("nothing to change: give --config")
			}
			if err := c.do(cmd.Context(), "PATCH", path("api", "v1", "topics", a[0], "configs"), patch, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "topic %s altered\n", a[0])
			return nil
		},
	}
	alter.Flags().StringArrayVar(&configs, "config", nil, "key=value to set, key= to reset (repeatable)")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a topic and its records", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.do(cmd.Context(), "DELETE", path("api", "v1", "topics", a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "topic %s deleted\n", a[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, describe, alter, del)
	return cmd
}

// parseConfigs reads key=value topic configs, values as strings.
func parseConfigs(pairs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func newGroupCmd(c *apiClient) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "List, describe, reset and delete consumer groups"}
	list := &cobra.Command{
		Use: "list", Short: "List consumer groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var gs []map[string]any
			if err := c.do(cmd.Context(), "GET", "/api/v1/groups", nil, &gs); err != nil {
				return err
			}
			var rows [][]string
			for _, g := range gs {
				rows = append(rows, []string{str(g["name"]), str(g["state"])})
			}
			return c.print(gs, []string{"NAME", "STATE"}, rows)
		},
	}
	describe := &cobra.Command{
		Use: "describe NAME", Short: "Show a group's members and lag per partition", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var g map[string]any
			if err := c.do(cmd.Context(), "GET", path("api", "v1", "groups", a[0]), nil, &g); err != nil {
				return err
			}
			var rows [][]string
			offs, _ := g["offsets"].([]any)
			for _, o := range offs {
				o, _ := o.(map[string]any)
				rows = append(rows, []string{str(o["topic"]), str(o["partition"]), str(o["committed_offset"]),
					str(o["end_offset"]), str(o["lag"]), str(o["member_id"])})
			}
			if err := c.print(g, []string{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"}, rows); err != nil {
				return err
			}
			if c.output != "json" {
				fmt.Fprintf(c.out, "state %s, total lag %s\n", str(g["state"]), str(g["lag"]))
			}
			return nil
		},
	}
	var to, topic string
	var offset, timestamp int64
	var dryRun bool
	reset := &cobra.Command{
		Use:   "reset-offsets NAME --to earliest|latest|timestamp|offset [--topic T]",
		Short: "Move a group's committed offsets (its consumers must be stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			body := map[string]any{"to": to, "dry_run": dryRun}
			switch to {
			case "timestamp":
				body["timestamp"] = timestamp
			case "offset":
				body["offset"] = offset
			}
			if topic != "" {
				body["topics"] = []any{map[string]any{"topic": topic}}
			}
			var res map[string]any
			if err := c.do(cmd.Context(), "POST", path("api", "v1", "groups", a[0], "reset-offsets"), body, &res); err != nil {
				return err
			}
			var rows [][]string
			offs, _ := res["offsets"].([]any)
			for _, o := range offs {
				o, _ := o.(map[string]any)
				rows = append(rows, []string{str(o["topic"]), str(o["partition"]), str(o["previous_offset"]), str(o["offset"])})
			}
			return c.print(res, []string{"TOPIC", "PARTITION", "FROM", "TO"}, rows)
		},
	}
	reset.Flags().StringVar(&to, "to", "", "earliest, latest, timestamp or offset")
	reset.Flags().StringVar(&topic, "topic", "", "only this topic (default: every topic the group committed for)")
	reset.Flags().Int64Var(&offset, "offset", 0, "with --to offset")
	reset.Flags().Int64Var(&timestamp, "timestamp", 0, "with --to timestamp: ms since the epoch")
	reset.Flags().BoolVar(&dryRun, "dry-run", false, "show, do not write")
	reset.MarkFlagRequired("to")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a group without members, and its offsets", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.do(cmd.Context(), "DELETE", path("api", "v1", "groups", a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "group %s deleted\n", a[0])
			return nil
		},
	}
	cmd.AddCommand(list, describe, reset, del)
	return cmd
}

// publishTopic publishes records to a topic: one body, or one per line.
func (c *apiClient) publishTopic(cmd *cobra.Command, topic, key string, headers map[string]any, bodies []string) error {
	recs := make([]any, 0, len(bodies))
	var hs []any
	for k, v := range headers {
		hs = append(hs, map[string]any{"key": k, "value": fmt.Sprint(v)})
	}
	for _, b := range bodies {
		r := map[string]any{"value": b, "headers": hs}
		if key != "" {
			r["key"] = key
		}
		recs = append(recs, r)
	}
	for len(recs) > 0 {
		n := min(len(recs), 10000)
		if err := c.do(cmd.Context(), "POST", path("api", "v1", "topics", topic, "records"), map[string]any{"records": recs[:n]}, nil); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// readLines reads stdin's lines.
func readLines(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

// tailTopic prints a topic partition's records from offset (or timestamp),
// count of them (0: all there are), or with follow until Ctrl-C.
func (c *apiClient) tailTopic(cmd *cobra.Command, topic string, partition int, from string, count int, follow bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	offset := from
	got := 0
	for count <= 0 || got < count {
		q := url.Values{"offset": {offset}, "max_records": {"1000"}}
		if follow {
			q.Set("max_wait_ms", "5000")
		}
		if ts, ok := strings.CutPrefix(from, "@"); ok && got == 0 && offset == from {
			q.Del("offset")
			q.Set("timestamp", ts)
		}
		var res struct {
			Records    []map[string]any `json:"records"`
			NextOffset json.Number      `json:"next_offset"`
		}
		p := path("api", "v1", "topics", topic, "partitions", strconv.Itoa(partition), "records") + "?" + q.Encode()
		err := c.do(ctx, http.MethodGet, p, nil, &res)
		if ctx.Err() != nil {
			return nil // Ctrl-C: a clean stop
		}
		if err != nil {
			return err
		}
		for _, r := range res.Records {
			if count > 0 && got >= count {
				break
			}
			if c.output == "json" {
				b, _ := json.Marshal(r)
				fmt.Fprintln(c.out, string(b))
			} else {
				fmt.Fprintln(c.out, str(r["value"]))
			}
			got++
		}
		offset = res.NextOffset.String()
		if len(res.Records) == 0 && !follow {
			return nil
		}
		if len(res.Records) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

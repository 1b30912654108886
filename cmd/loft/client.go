package main

// The client commands talk to a running broker's HTTP API (docs/HTTP.md).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// apiClient is the connection settings every client command shares.
type apiClient struct {
	server, user, password, vhost, output string
	out                                   io.Writer
}

// addClientFlags adds the flags of the client commands to cmd, with
// defaults from LOFT_SERVER, LOFT_USER, LOFT_PASSWORD and LOFT_VHOST.
func addClientFlags(cmd *cobra.Command, c *apiClient, lookupEnv func(string) (string, bool)) {
	env := func(name, def string) string {
		if v, ok := lookupEnv(name); ok && v != "" {
			return v
		}
		return def
	}
	f := cmd.PersistentFlags()
	f.StringVar(&c.server, "server", env("LOFT_SERVER", "http://127.0.0.1:15672"), "the broker's HTTP API (LOFT_SERVER)")
	f.StringVar(&c.user, "user", env("LOFT_USER", "guest"), "user name (LOFT_USER)")
	f.StringVar(&c.password, "password", env("LOFT_PASSWORD", "guest"), "password (LOFT_PASSWORD)")
	f.StringVar(&c.vhost, "vhost", env("LOFT_VHOST", "/"), "virtual host (LOFT_VHOST)")
	f.StringVarP(&c.output, "output", "o", "table", "output: table or json")
}

// apiError is an error answer of the API, in plain words.
type apiError struct {
	status int
	reason string
}

func (e *apiError) Error() string {
	switch e.status {
	case http.StatusUnauthorized:
		return "the broker refused the user name or password (401)"
	case http.StatusForbidden:
		return fmt.Sprintf("not allowed: %s (403)", e.reason)
	case http.StatusNotFound:
		return fmt.Sprintf("not found: %s (404)", e.reason)
	}
	return fmt.Sprintf("%s (%d)", e.reason, e.status)
}

// do sends one request; a JSON answer goes into out when not nil.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("bad --server %q: %v", c.server, err)
	}
	req.SetBasicAuth(c.user, c.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the broker at %s: %v", c.server, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if resp.StatusCode >= 400 {
		var e struct{ Reason string }
		if json.Unmarshal(b, &e) != nil || e.Reason == "" {
			e.Reason = strings.TrimSpace(string(b))
		}
		return &apiError{status: resp.StatusCode, reason: e.Reason}
	}
	if out != nil && len(b) > 0 {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		return d.Decode(out)
	}
	return nil
}

// path builds an API path from segments, each escaped (a vhost "/" is
// %2F).
func path(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// vpath is path("api", kind, vhost, rest...).
func (c *apiClient) vpath(kind string, rest ...string) string {
	return path(append([]string{"api", kind, c.vhost}, rest...)...)
}

// print writes rows as a table under header, or v as JSON with --output
// json.
func (c *apiClient) print(v any, header []string, rows [][]string) error {
	switch c.output {
	case "json":
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output %q: want table or json", c.output)
}

// str renders a JSON value for a table cell.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// parseArgs reads key=value pairs into a JSON object: integers, true and
// false as such, anything else as a string.
func parseArgs(pairs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", p)
		}
		switch {
		case v == "true" || v == "false":
			out[k] = v == "true"
		default:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = n
			} else {
				out[k] = v
			}
		}
	}
	return out, nil
}

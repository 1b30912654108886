package meta

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	tests := []struct {
		parts []string
		key   string
	}{
		{[]string{"queue", "prod", "orders"}, "queue/prod/orders"},
		{[]string{"queue", "/", "orders"}, "queue/%2F/orders"},
		{[]string{"exchange", "/", ""}, "exchange/%2F/"},
		{[]string{"queue", "a/b", "50%"}, "queue/a%2Fb/50%25"},
		{[]string{"topic", "%2F"}, "topic/%252F"},
		{[]string{"user", "zoë"}, "user/zoë"},
		{[]string{"vhost"}, "vhost"},
	}
	for _, tt := range tests {
		if got := Key(tt.parts...); got != tt.key {
			t.Errorf("Key(%q) = %q, want %q", tt.parts, got, tt.key)
		}
		parts, err := SplitKey(tt.key)
		if err != nil || !slices.Equal(parts, tt.parts) {
			t.Errorf("SplitKey(%q) = %q, %v; want %q", tt.key, parts, err, tt.parts)
		}
	}
	for _, bad := range []string{"a/%", "a/%2", "a/%2f", "%41"} {
		if _, err := SplitKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("SplitKey(%q): %v, want ErrBadKey", bad, err)
		}
	}
}

func TestPrefixSeparatesNames(t *testing.T) {
	keys := []string{
		Key("queue", "a", "q"),
		Key("queue", "ab", "q"),
		Key("queue", "a/b", "q"),
		Key("queue", "a", "q/r"),
		Key("queues", "a", "q"),
	}
	match := func(prefix string) []string {
		var out []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	if got, want := match(Prefix("queue", "a")), []string{Key("queue", "a", "q"), Key("queue", "a", "q/r")}; !slices.Equal(got, want) {
		t.Fatalf("keys below queue/a: %q, want %q", got, want)
	}
	if got := match(Prefix("queue")); len(got) != 4 {
		t.Fatalf("keys below queue: %q, want 4", got)
	}
	if Prefix() != "" {
		t.Fatalf("Prefix() = %q, want everything", Prefix())
	}
}

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestGeneratedFileIsCurrent fails when methods_gen.go differs from what
// spec.amqp produces, so the two can never drift apart.
func TestGeneratedFileIsCurrent(t *testing.T) {
	f, err := os.Open("../spec.amqp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := generate(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../methods_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("methods_gen.go is stale: run `go generate ./internal/amqp/frame`")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"method start 10\n",
		"class c 1\n  method m 1\n    f nosuchdomain\n",
		"class c 1\n  method m 1 weird\n",
		"constant x y\n",
		"domain d notaprimitive\n",
	} {
		if _, err := generate(strings.NewReader(in)); err == nil {
			t.Errorf("generate(%q) succeeded, want error", in)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"start-ok": "StartOK", "nowait": "NoWait", "auto-delete": "AutoDelete",
		"channel-id": "ChannelID", "recover-async": "RecoverAsync",
	} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}

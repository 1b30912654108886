package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	m, _ := MethodFrame(0, &ConnectionTuneOK{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60})
	frames := []Frame{m, BodyFrame(5, []byte("hello")), Heartbeat, BodyFrame(1, nil)}
	for _, f := range frames {
		if err := f.Write(&buf); err != nil {
			t.Fatal(err)
		}
	}
	if got := buf.Bytes()[:7]; !bytes.Equal(got, []byte{1, 0, 0, 0, 0, 0, 12}) {
		t.Fatalf("method frame header %x", got)
	}
	for _, want := range frames {
		got, err := Read(&buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := Read(&buf, 0); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestFrameReadErrors(t *testing.T) {
	good := BodyFrame(1, []byte("abc")).Append(nil)
	bad := bytes.Clone(good)
	bad[len(bad)-1] = 0xCD
	big := Frame{Type: FrameBody, Payload: make([]byte, FrameMinSize-overhead+1)}.Append(nil)
	tests := []struct {
		name string
		in   []byte
		max  uint32
		want error
	}{
		{"wrong frame end", bad, 0, ErrFrameEnd},
		{"oversized", big, FrameMinSize, ErrFrameTooLarge},
		{"size claims 4 GiB", []byte{3, 0, 1, 0xff, 0xff, 0xff, 0xff}, 1 << 20, ErrFrameTooLarge},
		{"truncated header", good[:5], 0, io.ErrUnexpectedEOF},
		{"truncated payload", good[:9], 0, io.ErrUnexpectedEOF},
		{"missing frame end", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(tc.in), tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// Exactly frame-max is allowed.
	ok := Frame{Type: FrameBody, Payload: make([]byte, FrameMinSize-overhead)}.Append(nil)
	if _, err := Read(bytes.NewReader(ok), FrameMinSize); err != nil {
		t.Fatalf("frame of exactly frame-max: %v", err)
	}
	// Large frames take the incremental path; cut short, they still fail.
	large := Frame{Type: FrameBody, Payload: bytes.Repeat([]byte{7}, 3*eagerAlloc)}.Append(nil)
	got, err := Read(bytes.NewReader(large), 1<<20)
	if err != nil || len(got.Payload) != 3*eagerAlloc {
		t.Fatalf("large frame: %d bytes, %v", len(got.Payload), err)
	}
	if _, err := Read(bytes.NewReader(large[:len(large)-1]), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("large truncated frame: %v", err)
	}
	if MaxBodyPayload(FrameMinSize) != FrameMinSize-overhead {
		t.Fatal("MaxBodyPayload disagrees with Read's limit")
	}
}

func TestFrameKindMismatch(t *testing.T) {
	if _, err := Heartbeat.Method(); !errors.Is(err, ErrFrameType) {
		t.Fatalf("Method on heartbeat: %v", err)
	}
	if _, err := Heartbeat.Header(); !errors.Is(err, ErrFrameType) {
		t.Fatalf("Header on heartbeat: %v", err)
	}
}

func TestCheckProtocolHeader(t *testing.T) {
	if reply, err := CheckProtocolHeader([]byte("AMQP\x00\x00\x09\x01")); reply != nil || err != nil {
		t.Fatalf("good header: %q, %v", reply, err)
	}
	for _, h := range []string{"AMQP\x01\x01\x00\x0a", "AMQP\x00\x01\x00\x00", "GET / HT", "AMQP"} {
		reply, err := CheckProtocolHeader([]byte(h))
		if !errors.Is(err, ErrProtocolHeader) || string(reply) != ProtocolHeader {
			t.Fatalf("%q: %q, %v", h, reply, err)
		}
	}
}

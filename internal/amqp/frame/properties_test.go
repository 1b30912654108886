package frame

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func fullProperties() Properties {
	p := Properties{
		ContentType: "application/json", ContentEncoding: "gzip",
		Headers:      Table{{"x-retry", int32(3)}},
		DeliveryMode: 2, Priority: 9,
		CorrelationID: "corr", ReplyTo: "amq.rabbitmq.reply-to",
		Expiration: "60000", MessageID: "id-1",
		Timestamp: time.Unix(1700000000, 0).UTC(),
		Type:      "order.created", UserID: "guest", AppID: "shop",
		ClusterID: "c1",
	}
	p.SetFlags()
	return p
}

func TestHeaderRoundTrip(t *testing.T) {
	full := fullProperties()
	if full.Flags != flagsDefined {
		t.Fatalf("SetFlags = %#04x, want %#04x", full.Flags, flagsDefined)
	}
	tests := []struct {
		name string
		p    Properties
	}{
		{"none", Properties{}},
		{"all", full},
		{"present but empty", Properties{Flags: FlagContentType | FlagHeaders | FlagPriority, Headers: Table{}}},
		{"sparse", Properties{Flags: FlagDeliveryMode | FlagTimestamp | FlagClusterID, DeliveryMode: 1, Timestamp: time.Unix(5, 0).UTC(), ClusterID: "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Header{ClassID: ClassBasic, BodySize: 1 << 40, Properties: tc.p}
			f, err := HeaderFrame(1, h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Header()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, h) {
				t.Fatalf("got %+v, want %+v", got, h)
			}
			again, _ := got.Append(nil)
			if !bytes.Equal(again, f.Payload) {
				t.Fatalf("re-encode %x, want %x", again, f.Payload)
			}
		})
	}
}

func TestHeaderWire(t *testing.T) {
	h := Header{ClassID: ClassBasic, BodySize: 5, Properties: Properties{ContentType: "t", DeliveryMode: 2}}
	h.Properties.SetFlags()
	p, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x90, 0x00, 1, 't', 2}
	if !bytes.Equal(p, want) {
		t.Fatalf("got %x, want %x", p, want)
	}
}

func TestHeaderErrors(t *testing.T) {
	base := []byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"continuation bit", append(base[:12:12], 0, 1), ErrPropertyFlags},
		{"undefined bit", append(base[:12:12], 0, 2), ErrPropertyFlags},
		{"not basic", []byte{0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownMethod},
		{"truncated", base[:10], ErrTruncated},
		{"property missing", append(base[:12:12], 0x80, 0), ErrTruncated},
		{"trailing", append(base[:12:12], 0, 0, 7), ErrTrailingBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeHeader(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

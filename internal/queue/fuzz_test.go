package queue

import (
	"testing"
)

// FuzzAckRecord feeds arbitrary bytes to the ack-record decoder, which
// reads what the ack log holds after a crash: it must never panic, and
// what it accepts must encode back to a record that decodes the same.
func FuzzAckRecord(f *testing.F) {
	f.Add(appendAckRecord(nil, ackDelta, 0, 0, nil))
	f.Add(appendAckRecord(nil, ackDelta, 100, 150, []span{{100, 101}, {120, 130}}))
	f.Add(appendAckRecord(nil, ackSnapshot, 1<<40, 1<<41, []span{{1<<40 + 5, 1<<40 + 9}}))
	f.Add([]byte{ackDelta, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{ackDelta, 0, 0, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAckRecord(b)
		if err != nil {
			return
		}
		var r ranges
		for _, s := range a.spans {
			if s.from < a.floor || s.to < s.from {
				t.Fatalf("span %v below floor %d or reversed", s, a.floor)
			}
			r.add(s.from, s.to)
		}
		again, err := parseAckRecord(appendAckRecord(nil, a.kind, a.floor, a.delivered, r.s))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		var r2 ranges
		for _, s := range again.spans {
			r2.add(s.from, s.to)
		}
		if again.floor != a.floor || again.delivered != a.delivered || r2.n != r.n {
			t.Fatalf("round trip changed the record: %+v then %+v", a, again)
		}
	})
}

// FuzzReturnsRecord feeds arbitrary bytes to the returns-record decoder:
// it must never panic, and what it accepts must encode back the same.
func FuzzReturnsRecord(f *testing.F) {
	f.Add(appendReturnsRecord(nil, nil))
	f.Add(appendReturnsRecord(nil, []offsetReturns{{150, 7}, {100, 1}}))
	f.Add(appendReturnsRecord(nil, []offsetReturns{{1<<40 + 3, 1<<31 - 1}}))
	f.Add([]byte{ackReturns, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseReturnsRecord(b)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.offset < 0 || r.returns < 0 {
				t.Fatalf("entry %+v out of range", r)
			}
		}
		again, err := parseReturnsRecord(appendReturnsRecord(nil, rs))
		if err != nil || len(again) != len(rs) {
			t.Fatalf("re-encoded record: %v, %d entries of %d", err, len(again), len(rs))
		}
		for i := range rs {
			if again[i] != rs[i] {
				t.Fatalf("entry %d: %+v then %+v", i, rs[i], again[i])
			}
		}
	})
}

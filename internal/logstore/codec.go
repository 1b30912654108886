package logstore

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs of the batch attributes' low three bits, as Kafka numbers them.
// Only compaction and timestamp lookup look inside compressed batches; every
// other path stores and serves them as received.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// maxDecompressed bounds what one batch may inflate to, so a hostile batch
// cannot exhaust memory.
const maxDecompressed = 256 << 20

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

var (
	zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxDecompressed))
	zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
)

// decompress returns the records section of a batch compressed with codec.
func decompress(codec int, b []byte) ([]byte, error) {
	switch codec {
	case codecNone:
		return b, nil
	case codecGzip:
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return readLimited(r, "gzip")
	case codecSnappy:
		return unsnappy(b)
	case codecLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(b)), "lz4")
	case codecZstd:
		out, err := zstdDec.DecodeAll(b, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("%w: %s: inflates past %d bytes", ErrCorrupt, name, maxDecompressed)
	}
	return out, nil
}

// unsnappy reads raw snappy (librdkafka, franz-go) and the xerial framing
// of the Java client: magic, two versions, then length-prefixed blocks.
func unsnappy(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, xerialMagic) {
		return snappyBlock(nil, b)
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("%w: snappy: short xerial header", ErrCorrupt)
	}
	var out []byte
	for b = b[16:]; len(b) > 0; {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: snappy: short xerial block", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, fmt.Errorf("%w: snappy: xerial block past the end", ErrCorrupt)
		}
		var err error
		if out, err = snappyBlock(out, b[4:4+n]); err != nil {
			return nil, err
		}
		b = b[4+n:]
	}
	return out, nil
}

func snappyBlock(dst, src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil || n > maxDecompressed || len(dst)+n > maxDecompressed {
		return nil, fmt.Errorf("%w: snappy: bad block", ErrCorrupt)
	}
	out, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	return append(dst, out...), nil
}

// compress compresses a records section with codec.
func compress(codec int, b []byte) ([]byte, error) {
	switch codec {
	case codecNone:
		return b, nil
	case codecGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case codecSnappy:
		return s2.EncodeSnappy(nil, b), nil
	case codecLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case codecZstd:
		return zstdEnc.EncodeAll(b, nil), nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
}

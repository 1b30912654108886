package frame

import "errors"

// Decoding errors. The listener answers all of them with a connection
// close carrying [FrameError] or [SyntaxError]; the distinction is kept so
// that the close text says what went wrong.
var (
	// ErrTruncated means the input ended inside a value.
	ErrTruncated = errors.New("frame: truncated input")
	// ErrTrailingBytes means a method or header payload had bytes left over
	// after its last field.
	ErrTrailingBytes = errors.New("frame: trailing bytes after payload")
	// ErrFrameEnd means a frame did not end with the 0xCE octet.
	ErrFrameEnd = errors.New("frame: missing frame-end octet")
	// ErrFrameType means a frame was asked to decode as a kind it is not.
	ErrFrameType = errors.New("frame: wrong frame type")
	// ErrFrameTooLarge means a frame's declared size exceeds the limit.
	ErrFrameTooLarge = errors.New("frame: frame exceeds frame-max")
	// ErrUnknownMethod means a class/method id pair that spec.amqp lacks.
	ErrUnknownMethod = errors.New("frame: unknown method")
	// ErrFieldType means a field table or array held an unknown type code.
	ErrFieldType = errors.New("frame: unknown field value type")
	// ErrTooDeep means field tables or arrays nested beyond [MaxDepth].
	ErrTooDeep = errors.New("frame: field tables nested too deeply")
	// ErrPropertyFlags means a content header used flag bits that basic
	// does not define, including the continuation bit.
	ErrPropertyFlags = errors.New("frame: invalid property flags")
	// ErrProtocolHeader means the peer did not open with AMQP 0-9-1.
	ErrProtocolHeader = errors.New("frame: unsupported protocol header")
)

// Encoding errors: the value cannot be represented on the wire.
var (
	// ErrShortStrTooLong means a shortstr or table key over 255 bytes.
	ErrShortStrTooLong = errors.New("frame: shortstr longer than 255 bytes")
	// ErrUnsupportedValue means a table value whose Go type has no wire type.
	ErrUnsupportedValue = errors.New("frame: unsupported table value type")
)

package amqp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/queue"
	"github.com/loftmq/loft/internal/vhost"
)

// ErrClosed is returned by Serve once Close has been called.
var ErrClosed = errors.New("amqp: server closed")

// Error is an AMQP protocol error: the reply code and text sent in a
// channel.close or connection.close, with the method that caused it.
type Error struct {
	Code     uint16
	Text     string // without the code name, which ReplyText adds
	ClassID  uint16 // the failing method's ids, or 0
	MethodID uint16
	// Conn reports a connection error (hard): the whole connection closes.
	// Otherwise only the channel closes.
	Conn bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("amqp: %s", e.ReplyText())
}

// ReplyText is the text as RabbitMQ sends it: "NOT_FOUND - no queue 'q'".
func (e *Error) ReplyText() string {
	return codeName(e.Code) + " - " + e.Text
}

// connError returns a connection error.
func connError(code uint16, m frame.Method, format string, args ...any) *Error {
	e := &Error{Code: code, Text: fmt.Sprintf(format, args...), Conn: true}
	if m != nil {
		e.ClassID, e.MethodID = m.ClassID(), m.MethodID()
	}
	return e
}

// channelError returns a channel error, failing method m.
func channelError(code uint16, m frame.Method, format string, args ...any) *Error {
	e := connError(code, m, format, args...)
	e.Conn = false
	return e
}

// codeName is the spec's name for a reply code, as RabbitMQ prefixes
// reply texts with it.
func codeName(code uint16) string {
	switch code {
	case frame.ReplySuccess:
		return "OK"
	case frame.ContentTooLarge:
		return "CONTENT_TOO_LARGE"
	case frame.NoRoute:
		return "NO_ROUTE"
	case frame.NoConsumers:
		return "NO_CONSUMERS"
	case frame.ConnectionForced:
		return "CONNECTION_FORCED"
	case frame.InvalidPath:
		return "INVALID_PATH"
	case frame.AccessRefused:
		return "ACCESS_REFUSED"
	case frame.NotFound:
		return "NOT_FOUND"
	case frame.ResourceLocked:
		return "RESOURCE_LOCKED"
	case frame.PreconditionFailed:
		return "PRECONDITION_FAILED"
	case frame.FrameError:
		return "FRAME_ERROR"
	case frame.SyntaxError:
		return "SYNTAX_ERROR"
	case frame.CommandInvalid:
		return "COMMAND_INVALID"
	case frame.ChannelError:
		return "CHANNEL_ERROR"
	case frame.UnexpectedFrame:
		return "UNEXPECTED_FRAME"
	case frame.ResourceError:
		return "RESOURCE_ERROR"
	case frame.NotAllowed:
		return "NOT_ALLOWED"
	case frame.NotImplemented:
		return "NOT_IMPLEMENTED"
	case frame.InternalError:
		return "INTERNAL_ERROR"
	}
	return fmt.Sprintf("CODE_%d", code)
}

// modelErrors maps the model's sentinel errors to the reply codes
// RabbitMQ gives for them; a connection error when conn is set.
var modelErrors = []struct {
	err  error
	code uint16
	conn bool
}{
	{vhost.ErrNotFound, frame.NotFound, false},
	{vhost.ErrInequivalent, frame.PreconditionFailed, false},
	{vhost.ErrInUse, frame.PreconditionFailed, false},
	{vhost.ErrNotEmpty, frame.PreconditionFailed, false},
	{vhost.ErrArgument, frame.PreconditionFailed, false},
	{vhost.ErrLocked, frame.ResourceLocked, false},
	{vhost.ErrAccess, frame.AccessRefused, false},
	{vhost.ErrUnknownType, frame.CommandInvalid, true},
	{vhost.ErrNotImplemented, frame.NotImplemented, true},
}

// modelError maps an error of the vhost or queue model to the protocol
// error RabbitMQ gives for it, failing method m. The reply text is the
// error's, without the sentinel's prefix.
func modelError(m frame.Method, err error) *Error {
	for _, e := range modelErrors {
		if errors.Is(err, e.err) {
			text := strings.TrimPrefix(err.Error(), e.err.Error()+": ")
			if e.conn {
				return connError(e.code, m, "%s", text)
			}
			return channelError(e.code, m, "%s", text)
		}
	}
	if errors.Is(err, vhost.ErrClosed) || errors.Is(err, queue.ErrClosed) {
		return connError(frame.ConnectionForced, m, "broker shutting down")
	}
	return connError(frame.InternalError, m, "%v", err)
}

package meta

import (
	"fmt"
	"strings"
)

// Key joins parts into a key, "queue/<vhost>/<name>" for
// Key("queue", vhost, name). Inside a part, '%' becomes "%25" and '/'
// becomes "%2F", so any name fits (AMQP's default vhost is "/", its default
// exchange "") and SplitKey gives the parts back.
func Key(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		escape(&b, p)
	}
	return b.String()
}

// Prefix returns the prefix of every key that begins with parts, for Scan:
// Scan(Prefix("queue", vhost)) lists the queues of vhost and no other, not
// those of a vhost whose name merely begins with vhost. Prefix() is "",
// which matches every key.
func Prefix(parts ...string) string {
	if len(parts) == 0 {
		return ""
	}
	return Key(parts...) + "/"
}

// SplitKey returns the parts Key joined. A '%' not starting "%25" or
// "%2F" is an error wrapping ErrBadKey.
func SplitKey(key string) ([]string, error) {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		u, ok := unescape(p)
		if !ok {
			return nil, fmt.Errorf("%w: %q: bad escape in part %d", ErrBadKey, key, i)
		}
		parts[i] = u
	}
	return parts, nil
}

func escape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(c)
		}
	}
}

func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "%25"):
			b.WriteByte('%')
		case strings.HasPrefix(s[i:], "%2F"):
			b.WriteByte('/')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

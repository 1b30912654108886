package httpapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/loftmq/loft/internal/amqp/frame"
)

// Message properties as RabbitMQ's API writes them: snake_case names,
// headers as an object, timestamp in seconds.
type propertiesJSON struct {
	ContentType     string         `json:"content_type,omitempty"`
	ContentEncoding string         `json:"content_encoding,omitempty"`
	Headers         map[string]any `json:"headers,omitempty"`
	DeliveryMode    uint8          `json:"delivery_mode,omitempty"`
	Priority        uint8          `json:"priority,omitempty"`
	CorrelationID   string         `json:"correlation_id,omitempty"`
	ReplyTo         string         `json:"reply_to,omitempty"`
	Expiration      string         `json:"expiration,omitempty"`
	MessageID       string         `json:"message_id,omitempty"`
	Timestamp       int64          `json:"timestamp,omitempty"`
	Type            string         `json:"type,omitempty"`
	UserID          string         `json:"user_id,omitempty"`
	AppID           string         `json:"app_id,omitempty"`
	ClusterID       string         `json:"cluster_id,omitempty"`
}

func toProperties(pj propertiesJSON) (frame.Properties, error) {
	p := frame.Properties{
		ContentType: pj.ContentType, ContentEncoding: pj.ContentEncoding, DeliveryMode: pj.DeliveryMode,
		Priority: pj.Priority, CorrelationID: pj.CorrelationID, ReplyTo: pj.ReplyTo, Expiration: pj.Expiration,
		MessageID: pj.MessageID, Type: pj.Type, UserID: pj.UserID, AppID: pj.AppID, ClusterID: pj.ClusterID,
	}
	if pj.Timestamp != 0 {
		p.Timestamp = time.Unix(pj.Timestamp, 0)
	}
	if pj.Headers != nil {
		t, err := jsonTable(pj.Headers)
		if err != nil {
			return p, fmt.Errorf("headers: %w", err)
		}
		p.Headers = t
	}
	if pj.Expiration != "" {
		if n, err := strconv.ParseUint(pj.Expiration, 10, 32); err != nil || n > 1<<31-1 {
			return p, fmt.Errorf("invalid expiration %q: milliseconds as a decimal string", pj.Expiration)
		}
	}
	p.SetFlags()
	return p, nil
}

func fromProperties(p frame.Properties) propertiesJSON {
	pj := propertiesJSON{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, DeliveryMode: p.DeliveryMode,
		Priority: p.Priority, CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo, Expiration: p.Expiration,
		MessageID: p.MessageID, Type: p.Type, UserID: p.UserID, AppID: p.AppID, ClusterID: p.ClusterID,
	}
	if !p.Timestamp.IsZero() {
		pj.Timestamp = p.Timestamp.Unix()
	}
	if p.Headers != nil {
		pj.Headers = tableJSON(p.Headers)
	}
	return pj
}

// jsonTable turns a JSON object into a field table: strings, booleans,
// integers (as long), other numbers (as double), nested objects (tables),
// arrays and null (void).
func jsonTable(m map[string]any) (frame.Table, error) {
	t := make(frame.Table, 0, len(m))
	for k, v := range m {
		fv, err := jsonField(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		t = append(t, frame.Field{Key: k, Value: fv})
	}
	return t, nil
}

func jsonField(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("bad number %s", x)
		}
		return f, nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		return jsonTable(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			fv, err := jsonField(e)
			if err != nil {
				return nil, err
			}
			out[i] = fv
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %v", v)
}

// tableJSON turns a field table into a JSON object.
func tableJSON(t frame.Table) map[string]any {
	out := make(map[string]any, len(t))
	for _, f := range t {
		out[f.Key] = fieldJSON(f.Value)
	}
	return out
}

func fieldJSON(v any) any {
	switch x := v.(type) {
	case frame.Table:
		return tableJSON(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fieldJSON(e)
		}
		return out
	case []byte:
		return string(x)
	case time.Time:
		return x.Unix()
	}
	return v
}

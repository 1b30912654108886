package client

import "encoding/json"

// A Codec turns a handler's or a publisher's values into message bodies
// and back. JSON is the default; set another with WithCodec.
type Codec interface {
	// ContentType is the media type put on each message, e.g.
	// "application/json".
	ContentType() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, encoding/json's.
type JSON struct{}

func (JSON) ContentType() string                { return "application/json" }
func (JSON) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

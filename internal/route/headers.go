package route

import (
	"fmt"
	"slices"
	"strings"
)

// headerSpec is a headers binding's arguments compiled for matching.
type headerSpec struct {
	any    bool // x-match any / any-with-x rather than all / all-with-x
	fields []headerField
}

type headerField struct {
	key   string
	value any
	void  bool // nil value: match on presence alone
}

// compileHeaders reads x-match and keeps the arguments that mode matches.
func compileHeaders(args map[string]any) (*headerSpec, error) {
	mode := "all"
	if v, ok := args["x-match"]; ok {
		s, ok := toBytes(v)
		if !ok {
			return nil, fmt.Errorf("%w: %T", ErrXMatch, v)
		}
		mode = s
	}
	var spec headerSpec
	var withX bool
	switch mode {
	case "all":
	case "any":
		spec.any = true
	case "all-with-x":
		withX = true
	case "any-with-x":
		spec.any, withX = true, true
	default:
		return nil, fmt.Errorf("%w: %q", ErrXMatch, mode)
	}
	for k, v := range args {
		if k == "x-match" || (!withX && strings.HasPrefix(k, "x-")) {
			continue
		}
		spec.fields = append(spec.fields, headerField{key: k, value: v, void: v == nil})
	}
	slices.SortFunc(spec.fields, func(a, b headerField) int { return strings.Compare(a.key, b.key) })
	return &spec, nil
}

// match applies RabbitMQ's rules: under all, every field must be present
// and equal (so no fields matches everything); under any, one suffices
// (so no fields matches nothing).
func (s *headerSpec) match(headers map[string]any) bool {
	for _, f := range s.fields {
		v, ok := headers[f.key]
		hit := ok && (f.void || equal(v, f.value))
		if hit && s.any {
			return true
		}
		if !hit && !s.any {
			return false
		}
	}
	return !s.any
}

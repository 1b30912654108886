package kafka

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Stats is what metrics report of the Kafka listener.
type Stats struct {
	Connections int // open connections
	// Errors counts the error codes sent in responses, in code order:
	// each topic, partition, group or resource entry (and each response's
	// top-level error) carrying a non-zero code counts once. Codes never
	// sent are left out.
	Errors []ErrorCount
}

// ErrorCount is the count of one error code sent in responses.
type ErrorCount struct {
	Code   int16
	Reason string // Kafka's name of the code: UNKNOWN_TOPIC_OR_PARTITION, ...
	Count  uint64
}

// The codes counted one by one run from -1 (UNKNOWN_SERVER_ERROR) to
// maxErrorCode; any other is counted as -1.
const maxErrorCode = 254

// counters are the listener's running counts, atomics bumped by the
// connections' writers.
type counters struct {
	errs [maxErrorCode + 2]atomic.Uint64 // by code + 1
}

func (c *counters) code(code int16) {
	if code == 0 {
		return
	}
	if code < -1 || code > maxErrorCode {
		code = -1
	}
	c.errs[code+1].Add(1)
}

// response counts the error codes in resp. Produce and Fetch, the hot
// ones, are walked directly; the rest by reflection, over a plan of where
// their ErrorCode fields are that is made once per type.
func (c *counters) response(resp kmsg.Response) {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				c.code(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.FetchResponse:
		c.code(r.ErrorCode)
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				c.code(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	default:
		v := reflect.ValueOf(resp)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			c.walk(v.Elem())
		}
	}
}

// codePlan says where a struct type's error codes are: its own ErrorCode
// fields, and the fields (structs, pointers to structs, slices of either)
// below which more may be.
type codePlan struct {
	codes []int
	below []int
}

var plans sync.Map // reflect.Type → *codePlan (nil: nothing below)

var int16Type = reflect.TypeFor[int16]()

// planFor returns the plan of struct type t, nil if no error code can be
// found in or below it.
func planFor(t reflect.Type) *codePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*codePlan)
	}
	return makePlan(t, map[reflect.Type]bool{})
}

// makePlan makes and caches t's plan; visiting holds the types being
// planned above, so that a type nesting itself (kmsg has none) ends.
func makePlan(t reflect.Type, visiting map[reflect.Type]bool) *codePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*codePlan)
	}
	if visiting[t] {
		return nil
	}
	visiting[t] = true
	p := &codePlan{}
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case !f.IsExported():
		case f.Name == "ErrorCode" && f.Type == int16Type:
			p.codes = append(p.codes, i)
		case elemStruct(f.Type) != nil && makePlan(elemStruct(f.Type), visiting) != nil:
			p.below = append(p.below, i)
		}
	}
	if len(p.codes) == 0 && len(p.below) == 0 {
		p = nil
	}
	plans.Store(t, p)
	return p
}

// elemStruct returns the struct type a field of type t holds (a struct, a
// pointer to one, or a slice of either), or nil.
func elemStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

// walk counts the error codes in v, a struct, and below it.
func (c *counters) walk(v reflect.Value) {
	p := planFor(v.Type())
	if p == nil {
		return
	}
	for _, i := range p.codes {
		c.code(int16(v.Field(i).Int()))
	}
	for _, i := range p.below {
		c.walkValue(v.Field(i))
	}
}

func (c *counters) walkValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			c.walkValue(v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c.walk(v.Elem())
		}
	case reflect.Struct:
		c.walk(v)
	}
}

// errorName is Kafka's name of an error code.
func errorName(code int16) string {
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) && ke.Code == code {
		return ke.Message
	}
	return fmt.Sprintf("CODE_%d", code)
}

// Stats returns the listener's stats.
func (s *Server) Stats() Stats {
	st := Stats{Connections: s.conns.Conns()}
	for i := range s.stats.errs {
		if n := s.stats.errs[i].Load(); n > 0 {
			code := int16(i - 1)
			st.Errors = append(st.Errors, ErrorCount{Code: code, Reason: errorName(code), Count: n})
		}
	}
	return st
}

package vhost

// Policies, as RabbitMQ has them: a named rule of a vhost that applies a
// definition (queue and exchange settings, by their argument names without
// the x- prefix) to the queues or exchanges whose names match a pattern;
// of the policies matching an object, the one of highest priority applies.
// Policies are stored durably and take effect at once on existing queues
// and exchanges. Where a queue's own arguments set the same thing, the
// lower value wins for the limits RabbitMQ treats so (message-ttl,
// expires, max-length, max-length-bytes, delivery-limit) and the argument
// wins for the rest.

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/loftmq/loft/internal/amqp/frame"
	"github.com/loftmq/loft/internal/meta"
)

const kindPolicy = "amqp-policy"

// Policy is one policy of a vhost.
type Policy struct {
	Vhost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"` // queues, exchanges or all
	Priority   int            `json:"priority"`
	Definition map[string]any `json:"definition"`

	re *regexp.Regexp
}

// policyKeys are the definition keys a policy may set, each checked by
// its argument's own validation; appliesTo says to what.
var policyKeys = map[string]struct{ queues, exchanges bool }{
	"message-ttl": {queues: true}, "expires": {queues: true},
	"max-length": {queues: true}, "max-length-bytes": {queues: true}, "overflow": {queues: true},
	"dead-letter-exchange": {queues: true}, "dead-letter-routing-key": {queues: true},
	"delivery-limit": {queues: true}, "consumer-timeout": {queues: true},
	"max-age": {queues: true}, "stream-max-segment-size-bytes": {queues: true},
	"alternate-exchange": {exchanges: true},
}

// minKeys are the settings where, set both by a policy and by the queue's
// argument, the lower value applies.
var minKeys = []string{"message-ttl", "expires", "max-length", "max-length-bytes", "delivery-limit"}

// checkPolicy validates p and normalizes its definition: JSON numbers
// become integers.
func checkPolicy(p *Policy) error {
	if p.Name == "" {
		return fmt.Errorf("%w: a policy needs a name", ErrArgument)
	}
	re, err := regexp.Compile(p.Pattern)
	if err != nil {
		return fmt.Errorf("%w: policy pattern %q: %v", ErrArgument, p.Pattern, err)
	}
	p.re = re
	switch p.ApplyTo {
	case "":
		p.ApplyTo = "all"
	case "queues", "exchanges", "all":
	default:
		return fmt.Errorf("%w: apply-to %q: want queues, exchanges or all", ErrArgument, p.ApplyTo)
	}
	if len(p.Definition) == 0 {
		return fmt.Errorf("%w: a policy needs a definition", ErrArgument)
	}
	def := make(map[string]any, len(p.Definition))
	args := frame.Table{}
	for k, v := range p.Definition {
		if _, ok := policyKeys[k]; !ok {
			return fmt.Errorf("%w: policy definition key %q is not one Loft knows (%s)", ErrArgument, k, strings.Join(slices.Sorted(maps.Keys(policyKeys)), ", "))
		}
		switch n := v.(type) {
		case float64:
			if n != float64(int64(n)) {
				return fmt.Errorf("%w: policy definition %q: %v is not an integer", ErrArgument, k, v)
			}
			v = int64(n)
		case json.Number:
			i, err := n.Int64()
			if err != nil {
				return fmt.Errorf("%w: policy definition %q: %v is not an integer", ErrArgument, k, v)
			}
			v = i
		case int:
			v = int64(n)
		}
		def[k] = v
		args.Set("x-"+k, v)
	}
	p.Definition = def
	// Each value must be one its argument accepts.
	if _, err := messageTTL(args); err != nil {
		return err
	}
	if _, err := lengthLimit(args); err != nil {
		return err
	}
	if _, err := queueExpires(args); err != nil {
		return err
	}
	if _, err := positiveMillis(args, "x-consumer-timeout"); err != nil {
		return err
	}
	if _, err := streamConfigs(args); err != nil {
		return err
	}
	for _, k := range []string{"dead-letter-exchange", "dead-letter-routing-key", "alternate-exchange"} {
		if v, ok := def[k]; ok {
			if _, isString := v.(string); !isString {
				return fmt.Errorf("%w: policy definition %q: %v is not a string", ErrArgument, k, v)
			}
		}
	}
	return nil
}

// SetPolicy adds or replaces a policy and applies the policies again to
// every queue and exchange of the vhost.
func (v *Vhost) SetPolicy(p Policy) error {
	p.Vhost = v.name
	if err := checkPolicy(&p); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if err := v.apply(put(meta.Key(kindPolicy, v.name, p.Name), p)); err != nil {
		return err
	}
	v.policies[p.Name] = &p
	v.applyPolicies()
	return nil
}

// DeletePolicy removes a policy; ErrNotFound if there is none.
func (v *Vhost) DeletePolicy(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.policies[name]; !ok {
		return fmt.Errorf("%w: no policy '%s' in vhost '%s'", ErrNotFound, name, v.name)
	}
	if err := v.apply(meta.Delete(meta.Key(kindPolicy, v.name, name))); err != nil {
		return err
	}
	delete(v.policies, name)
	v.applyPolicies()
	return nil
}

// Policies returns the vhost's policies, by name.
func (v *Vhost) Policies() []Policy {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Policy, 0, len(v.policies))
	for _, p := range v.policies {
		c := *p
		c.Definition = maps.Clone(p.Definition)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Policy) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// policyFor returns the policy applying to a queue (or exchange) named
// name: the highest priority of those matching, the first by name among
// equals; nil if none.
func (v *Vhost) policyFor(name string, isQueue bool) *Policy {
	var best *Policy
	for _, p := range v.policies {
		if (isQueue && p.ApplyTo == "exchanges") || (!isQueue && p.ApplyTo == "queues") || !p.re.MatchString(name) {
			continue
		}
		if best == nil || p.Priority > best.Priority || (p.Priority == best.Priority && p.Name < best.Name) {
			best = p
		}
	}
	return best
}

// effective merges a policy into declared arguments.
func effective(args frame.Table, p *Policy, isQueue bool) frame.Table {
	if p == nil {
		return args
	}
	out := slices.Clone(args)
	for _, k := range slices.Sorted(maps.Keys(p.Definition)) {
		if to := policyKeys[k]; (isQueue && !to.queues) || (!isQueue && !to.exchanges) {
			continue
		}
		pv := p.Definition[k]
		arg := "x-" + k
		if k == "alternate-exchange" {
			arg = k
		}
		have, ok := out.Get(arg)
		switch {
		case !ok:
			out.Set(arg, pv)
		case slices.Contains(minKeys, k):
			a, aok := asInt(have)
			b, bok := asInt(pv)
			if aok && bok && b < a {
				out.Set(arg, pv)
			}
		}
	}
	return out
}

// applyPolicies brings every queue and exchange of the vhost in line with
// the policies. v.mu is held.
func (v *Vhost) applyPolicies() {
	for _, q := range v.queues {
		v.applyQueuePolicy(q)
	}
	for _, x := range v.exchanges {
		if x.builtin {
			continue
		}
		p := v.policyFor(x.Name, false)
		x.Policy = policyName(p)
		x.alternate, _ = argString(effective(x.Args, p, false), "alternate-exchange")
	}
}

// applyQueuePolicy sets q's effective arguments and applies what changed
// to the running queue. v.mu is held (or q is not yet shared).
func (v *Vhost) applyQueuePolicy(q *Queue) {
	p := v.policyFor(q.Name, true)
	eff := effective(q.Args, p, true)
	old := q.Effective()
	q.Policy = policyName(p)
	q.eff.Store(&eff)
	if q.q == nil || argsEqual(old, eff) {
		return
	}
	q.expires, _ = queueExpires(eff)
	q.ConsumerTimeout, _ = positiveMillis(eff, "x-consumer-timeout")
	v.armExpiry(q)
	if q.IsStream() {
		v.h.alterStream(q)
		return
	}
	if err := q.q.SetLimits(v.h.queueLimits(v, q)); err != nil {
		v.h.logger.Warn("vhost: cannot apply a policy to a queue", "queue", q.Name, "policy", q.Policy, "err", err)
	}
}

func policyName(p *Policy) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// argsEqual compares two argument tables field by field, in order.
func argsEqual(a, b frame.Table) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !sameValue(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// loadPolicies reads the stored policies into their vhosts.
func (h *Hosts) loadPolicies() error {
	for _, kv := range h.md.Scan(meta.Prefix(kindPolicy)) {
		parts, err := meta.SplitKey(kv.Key)
		if err != nil || len(parts) != 3 {
			continue
		}
		var p Policy
		d := json.NewDecoder(strings.NewReader(string(kv.Value)))
		d.UseNumber()
		if err := d.Decode(&p); err != nil {
			return fmt.Errorf("vhost: read %s: %w", kv.Key, err)
		}
		if err := checkPolicy(&p); err != nil {
			h.logger.Warn("vhost: a stored policy is no longer valid; ignored", "vhost", parts[1], "policy", parts[2], "err", err)
			continue
		}
		h.vhost(parts[1]).policies[p.Name] = &p
	}
	return nil
}

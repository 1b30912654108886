package httpapi

import (
	"net/http"

	"github.com/loftmq/loft/internal/httpx"
	"github.com/loftmq/loft/internal/vhost"
)

// policyBody is a policy as RabbitMQ's API takes and gives it.
type policyBody struct {
	Vhost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    *string        `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Priority   int            `json:"priority"`
	Definition map[string]any `json:"definition"`
}

func toBody(p vhost.Policy) policyBody {
	pattern := p.Pattern
	return policyBody{Vhost: p.Vhost, Name: p.Name, Pattern: &pattern, ApplyTo: p.ApplyTo, Priority: p.Priority, Definition: p.Definition}
}

// listPolicies answers GET /api/policies[/{vhost}].
func (a *API) listPolicies(w http.ResponseWriter, r request) {
	var names []string
	if r.PathValue("vhost") != "" {
		if _, name, ok := a.vhostFor(w, r); !ok {
			return
		} else {
			names = []string{name}
		}
	} else {
		for _, v := range a.users.Vhosts() {
			if a.auth.CanUseVhost(r.user, v.Name) {
				names = append(names, v.Name)
			}
		}
	}
	out := []policyBody{}
	for _, name := range names {
		for _, p := range a.hosts.Get(name).Policies() {
			out = append(out, toBody(p))
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}

// getPolicy answers GET /api/policies/{vhost}/{name}.
func (a *API) getPolicy(w http.ResponseWriter, r request) {
	v, _, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	for _, p := range v.Policies() {
		if p.Name == r.PathValue("name") {
			httpx.JSON(w, http.StatusOK, toBody(p))
			return
		}
	}
	httpx.Error(w, http.StatusNotFound, "Object Not Found", "Not Found")
}

// putPolicy answers PUT /api/policies/{vhost}/{name}: 201 when made, 204
// when replaced, as RabbitMQ does.
func (a *API) putPolicy(w http.ResponseWriter, r request) {
	v, _, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	var b policyBody
	if !httpx.ReadJSON(w, r.Request, &b) {
		return
	}
	if b.Pattern == nil || b.Definition == nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "a policy needs a pattern and a definition")
		return
	}
	name := r.PathValue("name")
	existed := false
	for _, p := range v.Policies() {
		existed = existed || p.Name == name
	}
	err := v.SetPolicy(vhost.Policy{Name: name, Pattern: *b.Pattern, ApplyTo: b.ApplyTo, Priority: b.Priority, Definition: b.Definition})
	if err != nil {
		writeModelError(w, err)
		return
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
}

// deletePolicy answers DELETE /api/policies/{vhost}/{name}.
func (a *API) deletePolicy(w http.ResponseWriter, r request) {
	v, _, ok := a.vhostFor(w, r)
	if !ok {
		return
	}
	if err := v.DeletePolicy(r.PathValue("name")); err != nil {
		writeModelError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

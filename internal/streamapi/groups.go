package streamapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loftmq/loft/internal/group"
	"github.com/loftmq/loft/internal/httpx"
)

// groupSummary is a group in the list.
type groupSummary struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

// groupDetail is one group described. Lag is the sum of the partitions'
// lags that are known.
type groupDetail struct {
	Name         string       `json:"name"`
	State        string       `json:"state"`
	ProtocolType string       `json:"protocol_type"`
	Protocol     string       `json:"protocol"`
	Members      []memberJSON `json:"members"`
	Offsets      []offsetJSON `json:"offsets"`
	Lag          int64        `json:"lag"`
}

type memberJSON struct {
	MemberID   string         `json:"member_id"`
	InstanceID *string        `json:"instance_id"`
	ClientID   string         `json:"client_id"`
	ClientHost string         `json:"client_host"`
	Assignment []assignedJSON `json:"assignment"`
}

type assignedJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// offsetJSON is one partition a group consumes or has committed for.
// CommittedOffset is null when nothing is committed, EndOffset when the
// topic or partition no longer exists, and Lag when either is.
type offsetJSON struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset *int64 `json:"committed_offset"`
	EndOffset       *int64 `json:"end_offset"`
	Lag             *int64 `json:"lag"`
	MemberID        string `json:"member_id,omitempty"`
	Metadata        string `json:"metadata,omitempty"`
}

// writeGroupError answers a Kafka error code of the coordinator.
func writeGroupError(w http.ResponseWriter, name string, code int16) {
	status, kind := http.StatusServiceUnavailable, "unavailable"
	switch code {
	case kerr.GroupIDNotFound.Code:
		status, kind = http.StatusNotFound, "not_found"
	case kerr.NonEmptyGroup.Code, kerr.IllegalGeneration.Code, kerr.RebalanceInProgress.Code, kerr.UnknownMemberID.Code:
		status, kind = http.StatusConflict, "conflict"
	case kerr.InvalidGroupID.Code, kerr.InvalidCommitOffsetSize.Code, kerr.OffsetMetadataTooLarge.Code:
		status, kind = http.StatusBadRequest, "bad_request"
	}
	reason := fmt.Sprintf("group '%s': error %d", name, code)
	if e := kerr.ErrorForCode(code); e != nil {
		reason = fmt.Sprintf("group '%s': %v", name, e)
	}
	httpx.Error(w, status, kind, reason)
}

// listGroups answers GET /api/v1/groups[?state=Stable&state=Empty].
func (a *API) listGroups(w http.ResponseWriter, r *http.Request) {
	out := []groupSummary{}
	for _, g := range a.groups.List(r.URL.Query()["state"]) {
		out = append(out, groupSummary{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType})
	}
	httpx.JSON(w, http.StatusOK, out)
}

// describe returns a group's description, or answers 404 for a group
// that does not exist (Kafka's Dead) and 503 when the coordinator is
// closed.
func (a *API) describe(w http.ResponseWriter, name string) (group.GroupDescription, bool) {
	d, code := a.groups.Describe(name)
	if code != 0 {
		writeGroupError(w, name, code)
		return d, false
	}
	if d.State == "Dead" && len(d.Members) == 0 {
		httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no group '%s'", name))
		return d, false
	}
	return d, true
}

// getGroup answers GET /api/v1/groups/{group}: its members and what they
// are assigned, and per partition the committed offset and the lag, the
// partition's end offset less the committed offset.
func (a *API) getGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	d, ok := a.describe(w, name)
	if !ok {
		return
	}
	out := groupDetail{Name: d.Group, State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol, Members: []memberJSON{}}
	type tp struct {
		topic string
		p     int32
	}
	rows := map[tp]*offsetJSON{}
	row := func(topic string, p int32) *offsetJSON {
		k := tp{topic, p}
		if rows[k] == nil {
			rows[k] = &offsetJSON{Topic: topic, Partition: p}
		}
		return rows[k]
	}
	for _, m := range d.Members {
		mj := memberJSON{MemberID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: []assignedJSON{}}
		for _, as := range consumerAssignment(d.ProtocolType, m.Assignment) {
			mj.Assignment = append(mj.Assignment, as)
			for _, p := range as.Partitions {
				row(as.Topic, p).MemberID = m.ID
			}
		}
		out.Members = append(out.Members, mj)
	}
	for _, c := range a.groups.Fetch(name, nil) {
		if c.Err != 0 || c.Offset < 0 {
			continue
		}
		o := row(c.Topic, c.Partition)
		off := c.Offset
		o.CommittedOffset = &off
		if c.Metadata != nil {
			o.Metadata = *c.Metadata
		}
	}
	out.Offsets = []offsetJSON{}
	for _, o := range rows {
		a.fillLag(o)
		if o.Lag != nil {
			out.Lag += *o.Lag
		}
		out.Offsets = append(out.Offsets, *o)
	}
	slices.SortFunc(out.Offsets, func(x, y offsetJSON) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
	})
	httpx.JSON(w, http.StatusOK, out)
}

// fillLag sets a row's end offset and lag from its partition. A committed
// offset past the end (the topic was made again) lags by nothing.
func (a *API) fillLag(o *offsetJSON) {
	t, ok := a.broker.Topic(o.Topic)
	if !ok {
		return
	}
	p, ok := t.Partition(o.Partition)
	if !ok {
		return
	}
	end := p.HighWatermark()
	o.EndOffset = &end
	if o.CommittedOffset != nil {
		lag := max(end-*o.CommittedOffset, 0)
		o.Lag = &lag
	}
}

// consumerAssignment decodes a member's assignment in the standard
// consumer protocol; other protocols' assignments are opaque, and so is
// one that does not parse.
func consumerAssignment(protocolType string, b []byte) []assignedJSON {
	if protocolType != "consumer" || len(b) == 0 {
		return nil
	}
	var ma kmsg.ConsumerMemberAssignment
	if err := ma.ReadFrom(b); err != nil {
		return nil
	}
	var out []assignedJSON
	for _, t := range ma.Topics {
		out = append(out, assignedJSON{Topic: t.Topic, Partitions: append([]int32{}, t.Partitions...)})
	}
	return out
}

// deleteGroup answers DELETE /api/v1/groups/{group}: 204, or 409 while
// it has members.
func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if code := a.groups.Delete(r.Context(), name); code != 0 {
		writeGroupError(w, name, code)
		return
	}
	a.logger.Info("streamapi: group deleted", "group", name)
	w.WriteHeader(http.StatusNoContent)
}

package streamapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/loftmq/loft/internal/broker"
	"github.com/loftmq/loft/internal/httpx"
)

// topicSummary is a topic in the list.
type topicSummary struct {
	Name           string `json:"name"`
	ID             string `json:"id"`
	PartitionCount int32  `json:"partition_count"`
}

// topicDetail is one topic described.
type topicDetail struct {
	Name           string          `json:"name"`
	ID             string          `json:"id"`
	PartitionCount int32           `json:"partition_count"`
	Partitions     []partitionJSON `json:"partitions"`
	Configs        []configJSON    `json:"configs"`
}

// partitionJSON is one partition's offsets: records live in [start, end).
type partitionJSON struct {
	Partition   int32 `json:"partition"`
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
}

// configJSON is one topic config; Default says it is not set on the topic.
type configJSON struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Default bool   `json:"default"`
}

// topicID spells a topic id as Kafka's tools do: URL-safe base64 without
// padding.
func topicID(t *broker.Topic) string {
	id := t.ID()
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func describeTopic(t *broker.Topic) topicDetail {
	d := topicDetail{Name: t.Name(), ID: topicID(t), PartitionCount: t.NumPartitions(), Partitions: []partitionJSON{}}
	for _, p := range t.Partitions() {
		d.Partitions = append(d.Partitions, partitionJSON{Partition: p.Index(), StartOffset: p.LogStartOffset(), EndOffset: p.HighWatermark()})
	}
	d.Configs = configsJSON(t)
	return d
}

func configsJSON(t *broker.Topic) []configJSON {
	out := []configJSON{}
	for _, c := range t.Configs() {
		out = append(out, configJSON{Name: c.Name, Value: c.Value, Default: c.Default})
	}
	return out
}

// topicFor returns the topic named in the path, or answers 404.
func (a *API) topicFor(w http.ResponseWriter, r *http.Request) (*broker.Topic, bool) {
	name := r.PathValue("topic")
	t, ok := a.broker.Topic(name)
	if !ok {
		httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("no topic '%s'", name))
		return nil, false
	}
	return t, true
}

// partitionFor returns the partition named in the path, or answers 400
// for a malformed number and 404 for an unknown topic or partition.
func (a *API) partitionFor(w http.ResponseWriter, r *http.Request) (*broker.Partition, bool) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return nil, false
	}
	s := r.PathValue("partition")
	i, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("partition %q is not a number", s))
		return nil, false
	}
	p, ok := t.Partition(int32(i))
	if !ok {
		httpx.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("topic '%s' has no partition %d (it has %d)", t.Name(), i, t.NumPartitions()))
		return nil, false
	}
	return p, true
}

// listTopics answers GET /api/v1/topics.
func (a *API) listTopics(w http.ResponseWriter, _ *http.Request) {
	out := []topicSummary{}
	for _, t := range a.broker.Topics() {
		out = append(out, topicSummary{Name: t.Name(), ID: topicID(t), PartitionCount: t.NumPartitions()})
	}
	httpx.JSON(w, http.StatusOK, out)
}

// createBody is the body of POST /api/v1/topics.
type createBody struct {
	Name       string         `json:"name"`
	Partitions *int32         `json:"partitions"`
	Configs    map[string]any `json:"configs"`
}

// createTopic answers POST /api/v1/topics: 201 with the topic described.
func (a *API) createTopic(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if !readBody(w, r, &b) {
		return
	}
	spec := broker.TopicSpec{Name: b.Name, Partitions: -1}
	if b.Partitions != nil {
		if *b.Partitions < 1 {
			httpx.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("partitions: %d, want at least 1 (or leave it out for the broker's default)", *b.Partitions))
			return
		}
		spec.Partitions = *b.Partitions
	}
	configs, err := configStrings(b.Configs, false)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	spec.Configs = setConfigs(configs)
	t, err := a.broker.CreateTopic(r.Context(), spec, false)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", Prefix+"topics/"+url.PathEscape(t.Name()))
	httpx.JSON(w, http.StatusCreated, describeTopic(t))
}

// configStrings turns configs from JSON into the strings the broker keeps:
// a string as it is, a number as written, a boolean as true or false. A
// null is a deletion when nullOK (a merge patch), and nil in the result.
func configStrings(in map[string]any, nullOK bool) (map[string]*string, error) {
	out := make(map[string]*string, len(in))
	for _, k := range sortedKeys(in) {
		var s string
		switch v := in[k].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		case nil:
			if !nullOK {
				return nil, fmt.Errorf("config %q: null is not a value (PATCH the configs to delete one)", k)
			}
			out[k] = nil
			continue
		default:
			return nil, fmt.Errorf("config %q: want a string, a number or a boolean", k)
		}
		out[k] = &s
	}
	return out, nil
}

// setConfigs flattens configs that hold no deletion.
func setConfigs(in map[string]*string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = *v
	}
	return out
}

// getTopic answers GET /api/v1/topics/{topic}.
func (a *API) getTopic(w http.ResponseWriter, r *http.Request) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return
	}
	httpx.JSON(w, http.StatusOK, describeTopic(t))
}

// deleteTopic answers DELETE /api/v1/topics/{topic}: 204. The committed
// offsets of every group on it go too, as with Kafka's DeleteTopics.
func (a *API) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := a.broker.DeleteTopic(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	a.groups.TopicDeleted(r.Context(), name)
	a.logger.Info("streamapi: topic deleted", "topic", name)
	w.WriteHeader(http.StatusNoContent)
}

// configsAnswer is the answer of the configs endpoints.
type configsAnswer struct {
	Topic   string       `json:"topic"`
	Configs []configJSON `json:"configs"`
}

// getConfigs answers GET /api/v1/topics/{topic}/configs.
func (a *API) getConfigs(w http.ResponseWriter, r *http.Request) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return
	}
	httpx.JSON(w, http.StatusOK, configsAnswer{Topic: t.Name(), Configs: configsJSON(t)})
}

// replaceConfigs answers PUT /api/v1/topics/{topic}/configs: the body is
// every config to set; the others go back to their defaults.
func (a *API) replaceConfigs(w http.ResponseWriter, r *http.Request) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return
	}
	body, ok := readConfigs(w, r)
	if !ok {
		return
	}
	configs, err := configStrings(body, false)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err := a.broker.ReplaceTopicConfigs(r.Context(), t.Name(), setConfigs(configs), false); err != nil {
		writeError(w, err)
		return
	}
	httpx.JSON(w, http.StatusOK, configsAnswer{Topic: t.Name(), Configs: configsJSON(t)})
}

// patchConfigs answers PATCH /api/v1/topics/{topic}/configs with JSON
// merge patch semantics (RFC 7396): a value sets a config, null puts it
// back to its default, configs not named stay as they are.
func (a *API) patchConfigs(w http.ResponseWriter, r *http.Request) {
	t, ok := a.topicFor(w, r)
	if !ok {
		return
	}
	body, ok := readConfigs(w, r)
	if !ok {
		return
	}
	configs, err := configStrings(body, true)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var ops []broker.ConfigOp
	for _, k := range sortedKeys(configs) {
		if v := configs[k]; v == nil {
			ops = append(ops, broker.ConfigOp{Name: k, Op: broker.ConfigDelete})
		} else {
			ops = append(ops, broker.ConfigOp{Name: k, Value: *v, Op: broker.ConfigSet})
		}
	}
	if err := a.broker.AlterTopicConfigs(r.Context(), t.Name(), ops, false); err != nil {
		writeError(w, err)
		return
	}
	httpx.JSON(w, http.StatusOK, configsAnswer{Topic: t.Name(), Configs: configsJSON(t)})
}

// readConfigs reads a body that must be a JSON object of configs.
func readConfigs(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var body map[string]any
	if !readBody(w, r, &body) {
		return nil, false
	}
	if body == nil {
		httpx.Error(w, http.StatusBadRequest, "bad_request", "body: want a JSON object of configs, got null")
		return nil, false
	}
	return body, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

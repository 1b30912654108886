package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/loftmq/loft/internal/meta"
)

// clusterIDKey is where the cluster id is kept in the metadata store.
var clusterIDKey = meta.Key("cluster", "id")

// ClusterID returns the cluster id stored in md, creating it on the first
// start: 16 random bytes in URL-safe base64 without padding, the form of
// Kafka's ids. Clients compare it across connections to notice they reached
// a different cluster, so it must survive restarts.
func ClusterID(ctx context.Context, md *meta.Store) (string, error) {
	if v, ok := md.Get(clusterIDKey); ok && len(v) > 0 {
		return string(v), nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("kafka: cluster id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	if err := md.Put(ctx, clusterIDKey, []byte(id)); err != nil {
		return "", fmt.Errorf("kafka: store cluster id: %w", err)
	}
	return id, nil
}

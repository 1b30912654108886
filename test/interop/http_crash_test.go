package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/loftmq/loft/internal/loftproc"
)

// TestHTTPPublishSurvivesSIGKILL: a record the stream API answered 200
// for is on disk: publishers post records until the broker is SIGKILLed,
// and after a restart every record answered with an offset is at that
// offset with its value.
func TestHTTPPublishSurvivesSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := loftproc.Start(t, loftBin, dir)
	if st := apiAs(t, p, "guest", "guest", "POST", "/api/v1/topics", `{"name": "h", "partitions": 2}`, nil); st != 201 {
		t.Fatalf("create topic: %d", st)
	}
	type acked struct {
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	values := map[acked]string{}
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				value := fmt.Sprintf("g%d-%d", g, i)
				body, _ := json.Marshal(map[string]any{"records": []any{map[string]any{"partition": g % 2, "value": value}}})
				req, _ := http.NewRequest("POST", "http://"+p.HTTP+"/api/v1/topics/h/records", bytes.NewReader(body))
				req.SetBasicAuth("guest", "guest")
				resp, err := client.Do(req)
				if err != nil {
					return // the broker is gone
				}
				var ans struct {
					Offsets []struct {
						Partition int32  `json:"partition"`
						Offset    *int64 `json:"offset"`
					} `json:"offsets"`
				}
				err = json.NewDecoder(resp.Body).Decode(&ans)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil || len(ans.Offsets) != 1 || ans.Offsets[0].Offset == nil {
					continue // not acknowledged: promises nothing
				}
				mu.Lock()
				values[acked{ans.Offsets[0].Partition, *ans.Offsets[0].Offset}] = value
				mu.Unlock()
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(values)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged in 20 s", n)
		}
	}
	p.Kill()
	close(stop)
	wg.Wait()

	p = loftproc.Start(t, loftBin, dir)
	found := 0
	for part := range 2 {
		for next := int64(0); ; {
			var rd struct {
				Records []struct {
					Offset int64   `json:"offset"`
					Value  *string `json:"value"`
				} `json:"records"`
				NextOffset int64 `json:"next_offset"`
				EndOffset  int64 `json:"end_offset"`
			}
			path := fmt.Sprintf("/api/v1/topics/h/partitions/%d/records?offset=%d&max_records=1000", part, next)
			if st := apiAs(t, p, "guest", "guest", "GET", path, "", &rd); st != 200 {
				t.Fatalf("GET %s: %d", path, st)
			}
			for _, r := range rd.Records {
				if want, ok := values[acked{int32(part), r.Offset}]; ok {
					if r.Value == nil || *r.Value != want {
						t.Fatalf("partition %d offset %d holds %v, acknowledged as %q", part, r.Offset, r.Value, want)
					}
					found++
				}
			}
			if rd.NextOffset >= rd.EndOffset || len(rd.Records) == 0 {
				break
			}
			next = rd.NextOffset
		}
	}
	if found != len(values) {
		t.Fatalf("%d of %d acknowledged records found after SIGKILL", found, len(values))
	}
	t.Logf("%d records acknowledged over HTTP, all there after SIGKILL", found)
}

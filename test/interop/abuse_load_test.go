package interop

// The well-behaved clients of TestProtocolAbuse.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loftmq/loft/internal/loftproc"
)

// steadyLoad is the well-behaved clients: each records what the broker
// acknowledged and what it delivered, and any error it saw.
type steadyLoad struct {
	p        *loftproc.Process
	quit     chan struct{}
	quitOnce sync.Once
	producers,
	consumers sync.WaitGroup
	consumed chan struct{} // closed to stop the consumers

	mu             sync.Mutex
	errs           []error
	amqpConfirmed  map[string]bool
	amqpDelivered  map[string]bool
	kafkaAcked     map[string]bool
	kafkaDelivered map[string]bool
	httpOK         int
}

const (
	steadyQueue = "abuse-steady"
	steadyTopic = "abuse-steady"
)

// newSteadyLoad declares the queue and the topic the load uses.
func newSteadyLoad(t *testing.T, p *loftproc.Process) *steadyLoad {
	t.Helper()
	l := &steadyLoad{
		p: p, quit: make(chan struct{}), consumed: make(chan struct{}),
		amqpConfirmed: map[string]bool{}, amqpDelivered: map[string]bool{},
		kafkaAcked: map[string]bool{}, kafkaDelivered: map[string]bool{},
	}
	conn, err := dialAMQP(p.AMQP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(steadyQueue, true, false, false, false, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, steadyTopic); err != nil {
		t.Fatal(err)
	}
	return l
}

// start starts the clients.
func (l *steadyLoad) start() {
	l.producers.Go(l.amqpPublish)
	l.producers.Go(l.kafkaProduce)
	l.producers.Go(l.httpGets)
	l.consumers.Go(l.amqpConsume)
	l.consumers.Go(l.kafkaConsume)
}

func (l *steadyLoad) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *steadyLoad) stopping() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}

// stop ends the producers and waits for them.
func (l *steadyLoad) stop() {
	l.quitOnce.Do(func() { close(l.quit) })
	l.producers.Wait()
}

// warmUp waits until every client has had an answer.
func (l *steadyLoad) warmUp(within time.Duration) error {
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		ok := len(l.amqpDelivered) > 0 && len(l.kafkaDelivered) > 0 && l.httpOK > 0
		errs := errors.Join(l.errs...)
		l.mu.Unlock()
		switch {
		case errs != nil:
			return fmt.Errorf("well-behaved clients failed before the attack: %w", errs)
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("well-behaved clients not under way within %v: %s", within, l.summary())
		}
	}
}

// verify waits for the consumers to receive everything acknowledged,
// then stops them and reports any error or missing message.
func (l *steadyLoad) verify(within time.Duration) error {
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		missing := missingFrom(l.amqpConfirmed, l.amqpDelivered) + missingFrom(l.kafkaAcked, l.kafkaDelivered)
		l.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	close(l.consumed)
	l.consumers.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if n := missingFrom(l.amqpConfirmed, l.amqpDelivered); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d confirmed AMQP messages never delivered", n, len(l.amqpConfirmed)))
	}
	if n := missingFrom(l.kafkaAcked, l.kafkaDelivered); n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d acknowledged Kafka records never fetched", n, len(l.kafkaAcked)))
	}
	return errors.Join(append(errs, l.errs...)...)
}

func missingFrom(sent, got map[string]bool) int {
	n := 0
	for k := range sent {
		if !got[k] {
			n++
		}
	}
	return n
}

func (l *steadyLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("AMQP %d confirmed, %d delivered; Kafka %d acknowledged, %d fetched; %d HTTP GETs answered 200",
		len(l.amqpConfirmed), len(l.amqpDelivered), len(l.kafkaAcked), len(l.kafkaDelivered), l.httpOK)
}

// watchClose reports conn's closing as a failure unless done is closed:
// the client is closing it. (amqp091-go may report its own close as an
// EOF when the broker closes the socket after close-ok.)
func (l *steadyLoad) watchClose(conn *amqp.Connection, what string, done <-chan struct{}) {
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		err, ok := <-closed
		select {
		case <-done:
		default:
			if ok && err != nil {
				l.fail(fmt.Errorf("%s: connection closed: %v", what, err))
			}
		}
	}()
}

// amqpPublish publishes persistent messages with confirms, one at a
// time, recording each confirmed one.
func (l *steadyLoad) amqpPublish() {
	conn, err := dialAMQP(l.p.AMQP)
	if err != nil {
		l.fail(fmt.Errorf("AMQP publisher: %w", err))
		return
	}
	defer conn.Close()
	l.watchClose(conn, "AMQP publisher", l.quit)
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		l.fail(fmt.Errorf("AMQP publisher: %w", err))
		return
	}
	for i := 0; !l.stopping(); i++ {
		body := "amqp-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", steadyQueue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
		var acked bool
		if err == nil {
			acked, err = dc.WaitContext(ctx)
		}
		cancel()
		if err != nil || !acked {
			l.fail(fmt.Errorf("AMQP publish %s: acked %v, %v", body, acked, err))
			return
		}
		l.mu.Lock()
		l.amqpConfirmed[body] = true
		l.mu.Unlock()
	}
}

// amqpConsume consumes with manual acks until the load is verified.
func (l *steadyLoad) amqpConsume() {
	conn, err := dialAMQP(l.p.AMQP)
	if err != nil {
		l.fail(fmt.Errorf("AMQP consumer: %w", err))
		return
	}
	defer conn.Close()
	l.watchClose(conn, "AMQP consumer", l.consumed)
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(100, 0, false)
	}
	var ds <-chan amqp.Delivery
	if err == nil {
		ds, err = ch.Consume(steadyQueue, "", false, false, false, false, nil)
	}
	if err != nil {
		l.fail(fmt.Errorf("AMQP consumer: %w", err))
		return
	}
	for {
		select {
		case <-l.consumed:
			return
		case d, ok := <-ds:
			if !ok {
				l.fail(errors.New("AMQP consumer: deliveries ended"))
				return
			}
			if err := d.Ack(false); err != nil {
				l.fail(fmt.Errorf("AMQP ack: %w", err))
				return
			}
			l.mu.Lock()
			l.amqpDelivered[string(d.Body)] = true
			l.mu.Unlock()
		}
	}
}

// kafkaProduce produces one record at a time with acks=all (franz-go's
// default, idempotent), recording each acknowledged one.
func (l *steadyLoad) kafkaProduce() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.p.Kafka), kgo.DefaultProduceTopic(steadyTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		l.fail(fmt.Errorf("Kafka producer: %w", err))
		return
	}
	defer cl.Close()
	for i := 0; !l.stopping(); i++ {
		v := "kafka-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
		cancel()
		if err != nil {
			l.fail(fmt.Errorf("Kafka produce %s: %w", v, err))
			return
		}
		l.mu.Lock()
		l.kafkaAcked[v] = true
		l.mu.Unlock()
	}
}

// kafkaConsume fetches the topic from its start until the load is
// verified.
func (l *steadyLoad) kafkaConsume() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.p.Kafka), kgo.ConsumeTopics(steadyTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		l.fail(fmt.Errorf("Kafka consumer: %w", err))
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.consumed
		cancel()
	}()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				l.fail(fmt.Errorf("Kafka fetch %s/%d: %w", topic, p, err))
			}
		})
		l.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) { l.kafkaDelivered[string(r.Value)] = true })
		l.mu.Unlock()
	}
}

// httpGets reads the management API's overview and /healthz in turn.
func (l *steadyLoad) httpGets() {
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := 0; !l.stopping(); i++ {
		url := "http://" + l.p.HTTP + "/healthz"
		if i%2 == 0 {
			url = "http://" + l.p.HTTP + "/api/overview"
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.SetBasicAuth("guest", "guest")
		resp, err := client.Do(req)
		if err != nil {
			l.fail(fmt.Errorf("HTTP GET %s: %w", url, err))
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			l.fail(fmt.Errorf("HTTP GET %s: %s", url, resp.Status))
			return
		}
		l.mu.Lock()
		l.httpOK++
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

package attache

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"time"

	"connectrpc.com/connect"

	kafkav1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/kafka/v1"
)

// ConsumeOptions are Consume's options.
type ConsumeOptions struct {
	// Group is the consumer group: 1 to 249 of [a-zA-Z0-9._-].
	Group  string
	Topics []string
	// InstanceID is static membership: a stable id of this app instance
	// (a pod name, say). A consumer that comes back with the same id
	// within the sidecar's kafka.consumer.session_timeout keeps its
	// partitions, without a rebalance. Two live consumers with one id
	// fence each other: the older ends with CodeAborted.
	InstanceID string
	// MaxUnacked is the most records delivered and not yet acknowledged;
	// 0 (and the cap) is the sidecar's kafka.consumer.max_unacked.
	MaxUnacked uint32
	Start      KafkaStart
	// AckBatch is the longest an Ack waits to be sent with others; 0 is
	// 5 ms.
	AckBatch time.Duration
	// AckBatchSize sends waiting acks at once when this many wait; 0 is
	// 500.
	AckBatchSize int
	// OnAssigned and OnRevoked, if set, are called (from the consumer's
	// own goroutine: return quickly) with the partitions a rebalance gave
	// or took.
	OnAssigned, OnRevoked func([]TopicPartition)
}

// Consumer is a member of a consumer group for as long as it is open, on
// a stream of its own: read its records with Receive or range over
// Messages, Ack each once handled, Close it when done.
//
// At least once: a record not acknowledged when the consumer closes,
// fails or loses its partition is delivered again to the group (here or
// to another member), as are the records after it on its partition. The
// records of a revoked partition not yet handed out are dropped, and acks
// of those handed out do nothing.
//
// A failure ends it with an *Error: CodeUnavailable (the connection was
// lost), CodeAborted (fenced by another consumer with the same
// InstanceID), CodeInvalidArgument (a bad group or topic),
// CodeFailedPrecondition (no brokers on the sidecar), CodeCanceled (the
// context given to Consume ended). Nothing is retried: open a new
// consumer.
type Consumer struct {
	k            *KafkaClient
	stream       *connect.BidiStreamForClient[kafkav1.ConsumeRequest, kafkav1.ConsumeResponse]
	cancel       context.CancelFunc
	ackBatch     time.Duration
	ackBatchSize int
	onAssigned   func([]TopicPartition)
	onRevoked    func([]TopicPartition)

	sendMu sync.Mutex // stream.Send

	mu       sync.Mutex
	queue    []*ConsumedMessage
	acks     []*kafkav1.Position
	ackTimer *time.Timer
	epochs   map[TopicPartition]int // bumped when a partition is revoked
	assigned map[TopicPartition]struct{}
	failure  error
	reported bool
	closing  bool
	ready    chan struct{} // a token when the queue gains records
	ended    chan struct{} // closed when the stream is over
}

// ConsumedMessage is a record a Consumer delivered: Ack it once handled.
type ConsumedMessage struct {
	ConsumedRecord
	consumer *Consumer
	epoch    int
	once     sync.Once
	acked    bool
}

// Ack acknowledges the record: handled, never to be delivered again to
// the group. Acks are sent together (every AckBatch, or AckBatchSize at
// once, or when Receive waits for records); the group's offset moves only
// past records all acknowledged, so any order is fine. It returns false,
// doing nothing, if the record was acknowledged before or can no longer
// be: its partition was revoked since, or the consumer is closed or
// failed; the group then delivers it again.
func (m *ConsumedMessage) Ack() bool {
	done := false
	m.once.Do(func() {
		m.acked = m.consumer.acknowledge(m)
		done = true
	})
	return done && m.acked
}

// Consume joins consumer group o.Group for o.Topics. The consumer lives
// until Close, a failure, or ctx ending. The sidecar's refusals (a bad
// group or topic, no brokers) come from Receive.
func (k *KafkaClient) Consume(ctx context.Context, o ConsumeOptions) (*Consumer, error) {
	start, err := pick(starts, o.Start, "start")
	if err != nil {
		return nil, err
	}
	if o.AckBatchSize < 0 || o.AckBatch < 0 {
		return nil, badArgument("ack_batch", "must not be negative")
	}
	stream, cancel := openStream(ctx, k.rpc.Consume)
	c := &Consumer{
		k: k, stream: stream, cancel: cancel,
		ackBatch: o.AckBatch, ackBatchSize: o.AckBatchSize, onAssigned: o.OnAssigned, onRevoked: o.OnRevoked,
		epochs: map[TopicPartition]int{}, assigned: map[TopicPartition]struct{}{},
		ready: make(chan struct{}, 1), ended: make(chan struct{}),
	}
	if c.ackBatch == 0 {
		c.ackBatch = 5 * time.Millisecond
	}
	if c.ackBatchSize == 0 {
		c.ackBatchSize = 500
	}
	err = c.stream.Send(&kafkav1.ConsumeRequest{Step: &kafkav1.ConsumeRequest_Subscribe{Subscribe: &kafkav1.Subscribe{
		Group: o.Group, Topics: o.Topics, InstanceId: o.InstanceID, MaxUnacked: o.MaxUnacked, Start: start,
	}}})
	if err != nil && !errors.Is(err, io.EOF) {
		cancel()
		_ = c.stream.CloseResponse()
		return nil, asError(err)
	}
	go c.receive()
	return c, nil
}

// Assignment is the partitions this consumer reads now (none until the
// group assigns it some).
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, 0, len(c.assigned))
	for p := range c.assigned {
		out = append(out, p)
	}
	return out
}

// Receive waits for the next record, or for ctx to end. When the consumer
// fails, it returns the failure once, then ErrClosed; after Close,
// ErrClosed.
func (c *Consumer) Receive(ctx context.Context) (*ConsumedMessage, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			if len(c.queue) > 0 {
				c.signal()
			}
			c.mu.Unlock()
			return m, nil
		}
		if c.failure != nil {
			defer c.mu.Unlock()
			if c.reported {
				return nil, ErrClosed
			}
			c.reported = true
			return nil, c.failure
		}
		if c.closing || c.isEnded() {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		c.mu.Unlock()
		// Nothing to hand out: the sidecar may be holding records back
		// until these acks free room under MaxUnacked.
		c.flushAcks()
		select {
		case <-c.ready:
		case <-c.ended:
		case <-ctx.Done():
			return nil, asError(ctx.Err())
		}
	}
}

// Messages ranges over the records, waiting for each, until the consumer
// is closed (the loop ends) or fails (the failure is yielded once, then
// the loop ends), or ctx ends (its error is yielded). Leaving the loop
// early leaves the consumer open.
func (c *Consumer) Messages(ctx context.Context) iter.Seq2[*ConsumedMessage, error] {
	return func(yield func(*ConsumedMessage, error) bool) {
		for {
			m, err := c.Receive(ctx)
			if errors.Is(err, ErrClosed) {
				return
			}
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}

// Close sends the acks not yet sent, then ends the stream: the sidecar
// commits what was acknowledged and the member leaves the group (with an
// InstanceID, it keeps its partitions for the session timeout). Records
// delivered and not yet handed out are dropped (the group delivers them
// again). It returns once the sidecar has ended the stream, or ctx ends
// (then the stream is cut).
func (c *Consumer) Close(ctx context.Context) error {
	c.mu.Lock()
	already := c.closing
	c.closing = true
	c.queue = nil
	c.mu.Unlock()
	if !already {
		c.flushAcks()
		c.sendMu.Lock()
		_ = c.stream.CloseRequest()
		c.sendMu.Unlock()
	}
	ctx, cancel := withDefaultDeadline(ctx, c.k.c.timeout)
	defer cancel()
	select {
	case <-c.ended:
	case <-ctx.Done():
		c.cancel()
		<-c.ended
	}
	return nil
}

func (c *Consumer) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

func (c *Consumer) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

func (c *Consumer) acknowledge(m *ConsumedMessage) bool {
	c.mu.Lock()
	if c.closing || c.failure != nil || c.isEnded() {
		c.mu.Unlock()
		return false
	}
	tp := TopicPartition{Topic: m.Topic, Partition: m.Partition}
	if c.epochs[tp] != m.epoch {
		c.mu.Unlock()
		return false
	}
	c.acks = append(c.acks, &kafkav1.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
	flush := len(c.acks) >= c.ackBatchSize
	if !flush && c.ackTimer == nil {
		c.ackTimer = time.AfterFunc(c.ackBatch, c.flushAcks)
	}
	c.mu.Unlock()
	if flush {
		c.flushAcks()
	}
	return true
}

func (c *Consumer) flushAcks() {
	c.mu.Lock()
	if c.ackTimer != nil {
		c.ackTimer.Stop()
		c.ackTimer = nil
	}
	positions := c.acks
	c.acks = nil
	c.mu.Unlock()
	if len(positions) == 0 || c.isEnded() {
		return
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	// A failed send means the stream is over; receive() reports why.
	_ = c.stream.Send(&kafkav1.ConsumeRequest{Step: &kafkav1.ConsumeRequest_Ack{Ack: &kafkav1.Acks{Positions: positions}}})
}

func partitions(a *kafkav1.Assignment) []TopicPartition {
	out := make([]TopicPartition, len(a.GetPartitions()))
	for i, p := range a.GetPartitions() {
		out[i] = TopicPartition{Topic: p.GetTopic(), Partition: p.GetPartition()}
	}
	return out
}

func (c *Consumer) receive() {
	var end error
	for {
		msg, err := c.stream.Receive()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				end = asError(err)
			}
			break
		}
		switch ev := msg.GetEvent().(type) {
		case *kafkav1.ConsumeResponse_Records:
			c.mu.Lock()
			if !c.closing && c.failure == nil {
				for _, r := range ev.Records.GetRecords() {
					m := &ConsumedMessage{ConsumedRecord: toConsumed(r), consumer: c}
					m.epoch = c.epochs[TopicPartition{Topic: m.Topic, Partition: m.Partition}]
					c.queue = append(c.queue, m)
				}
				c.signal()
			}
			c.mu.Unlock()
		case *kafkav1.ConsumeResponse_Assigned:
			ps := partitions(ev.Assigned)
			c.mu.Lock()
			for _, p := range ps {
				c.assigned[p] = struct{}{}
			}
			c.mu.Unlock()
			if c.onAssigned != nil {
				c.onAssigned(ps)
			}
		case *kafkav1.ConsumeResponse_Revoked:
			ps := partitions(ev.Revoked)
			c.mu.Lock()
			gone := map[TopicPartition]bool{}
			for _, p := range ps {
				delete(c.assigned, p)
				c.epochs[p]++
				gone[p] = true
			}
			// The group delivers these again elsewhere; acks of them would
			// do nothing.
			kept := c.queue[:0]
			for _, m := range c.queue {
				if !gone[TopicPartition{Topic: m.Topic, Partition: m.Partition}] {
					kept = append(kept, m)
				}
			}
			c.queue = kept
			keptAcks := c.acks[:0]
			for _, a := range c.acks {
				if !gone[TopicPartition{Topic: a.GetTopic(), Partition: a.GetPartition()}] {
					keptAcks = append(keptAcks, a)
				}
			}
			c.acks = keptAcks
			c.mu.Unlock()
			if c.onRevoked != nil {
				c.onRevoked(ps)
			}
		}
	}
	c.mu.Lock()
	if c.ackTimer != nil {
		c.ackTimer.Stop()
		c.ackTimer = nil
	}
	c.acks = nil
	if !c.closing && c.failure == nil {
		if end == nil {
			end = newError(CodeUnavailable, "the sidecar ended the stream; open a new consumer")
		}
		c.failure = end
	}
	c.queue = nil
	close(c.ended)
	c.mu.Unlock()
	c.cancel()
	_ = c.stream.CloseResponse()
}

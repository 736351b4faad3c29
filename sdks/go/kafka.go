package attache

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"connectrpc.com/connect"

	kafkav1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/kafka/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/kafka/v1/kafkav1connect"
)

// ErrClosed is what a Consumer, ProduceStream or Subscription returns once
// it has been closed by its own Close.
var ErrClosed = errors.New("attache: closed")

// KafkaClient hands records to Kafka through the sidecar's durable spool:
// a record is acknowledged once it is on this host's disk (or, with
// AckDelivered, once Kafka has it) and reaches Kafka even if Kafka is down
// now or the sidecar restarts. Consuming is at least once, through
// consumer groups: a group member per stream (Consume), or records leased
// to short-lived callers (Fetch and Lease.Commit). No call is retried:
// producing is not idempotent, nor is taking records. Every record the
// sidecar produces carries an `attache-id` header for consumers to drop
// duplicates by.
type KafkaClient struct {
	c   *Client
	rpc kafkav1connect.KafkaServiceClient
}

// Its streams go through connect-go's generated client, on the
// client's transport.
func newKafkaClient(c *Client) *KafkaClient {
	return &KafkaClient{c: c, rpc: kafkav1connect.NewKafkaServiceClient(c.transport, baseURL)}
}

// KafkaHeader is one record header; a nil Value is a header without one.
type KafkaHeader struct {
	Key   string
	Value []byte
}

// KafkaRecord is a record to produce.
type KafkaRecord struct {
	// Topic: 1 to 249 of [a-zA-Z0-9._-].
	Topic string
	// Key: nil for none (the partitioner spreads such records). Records of
	// one topic and key keep their order.
	Key []byte
	// Value: nil is a null value, a tombstone on a compacted topic.
	Value []byte
	// Headers keep their order and may repeat a key; `attache-id` is the
	// sidecar's own and may not be set.
	Headers []KafkaHeader
	// Partition: nil chooses it by key with Java's partitioner (murmur2).
	Partition *int32
	// Timestamp: zero is when the sidecar spooled the record.
	Timestamp time.Time
}

// KafkaAck says when a record counts as acknowledged.
type KafkaAck string

// The acks.
const (
	// AckSpooled (the default): durable in this host's spool; Kafka gets
	// it as soon as it can.
	AckSpooled KafkaAck = "spooled"
	// AckDelivered: Kafka has it (acks=all); the result says where.
	// Without brokers configured: CodeFailedPrecondition.
	AckDelivered KafkaAck = "delivered"
)

var acks = map[KafkaAck]kafkav1.Ack{"": kafkav1.Ack_ACK_SPOOLED, AckSpooled: kafkav1.Ack_ACK_SPOOLED, AckDelivered: kafkav1.Ack_ACK_DELIVERED}

// ProduceResult is what became of one record.
type ProduceResult struct {
	// ID is the record's `attache-id` header: the same on every delivery
	// of it, for consumers to drop duplicates by.
	ID string
	// Partition and Offset say where Kafka stored the record, with
	// AckDelivered; -1 otherwise.
	Partition int32
	Offset    int64
	// Err is, with AckDelivered, why Kafka refused this record (it is out
	// of the spool, not retried): an *Error of CodeNotFound (no such
	// topic), CodeInvalidArgument (too large, invalid) or
	// CodePermissionDenied.
	Err error
}

func toRecords(records []KafkaRecord) ([]*kafkav1.Record, error) {
	out := make([]*kafkav1.Record, len(records))
	for i, r := range records {
		pr := &kafkav1.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Partition: r.Partition}
		if !r.Timestamp.IsZero() {
			ms := r.Timestamp.UnixMilli()
			pr.TimestampMs = &ms
		}
		for _, h := range r.Headers {
			pr.Headers = append(pr.Headers, &kafkav1.Header{Key: h.Key, Value: h.Value})
		}
		out[i] = pr
	}
	return out, nil
}

func toResults(results []*kafkav1.RecordResult) []ProduceResult {
	out := make([]ProduceResult, len(results))
	for i, r := range results {
		out[i] = ProduceResult{ID: r.GetId(), Partition: -1, Offset: -1}
		if r.Partition != nil {
			out[i].Partition = r.GetPartition()
		}
		if r.Offset != nil {
			out[i].Offset = r.GetOffset()
		}
		if e := r.GetError(); e != nil {
			out[i].Err = &Error{code: codeFromName(e.GetCode()), message: e.GetMessage(), metadata: map[string]string{}}
		}
	}
	return out
}

// Produce spools records and returns one result per record, in order,
// once each is acknowledged as ack says (AckSpooled when none is given).
// Either every record is spooled or none is (the call fails). A bad record
// is CodeInvalidArgument naming it ("records[2].topic: …"); a full spool,
// CodeResourceExhausted.
func (k *KafkaClient) Produce(ctx context.Context, records []KafkaRecord, ack ...KafkaAck) ([]ProduceResult, error) {
	a, err := oneAck(ack)
	if err != nil {
		return nil, err
	}
	rs, err := toRecords(records)
	if err != nil {
		return nil, err
	}
	reply, err := unary[kafkav1.ProduceResponse](k.c, ctx, kafkav1connect.KafkaServiceProduceProcedure, &kafkav1.ProduceRequest{Records: rs, Ack: a})
	if err != nil {
		return nil, err
	}
	return toResults(reply.GetResults()), nil
}

func oneAck(ack []KafkaAck) (kafkav1.Ack, error) {
	if len(ack) > 1 {
		return 0, badArgument("ack", "give at most one")
	}
	if len(ack) == 0 {
		return kafkav1.Ack_ACK_SPOOLED, nil
	}
	return pick(acks, ack[0], "ack")
}

// ProduceStream is Produce for high rates: many sends in flight on one
// stream, each answered in order. Send is safe for concurrent use, and
// sends from many goroutines are pipelined.
//
// A stream ends at its first failure: a bad message (the sidecar's
// error, e.g. CodeInvalidArgument), a lost connection (CodeUnavailable),
// a send not answered in time (CodeDeadlineExceeded). The send that
// failed returns that error; sends after it that were not answered return
// CodeAborted (they may or may not have been spooled), and every later
// send CodeFailedPrecondition. Open a new stream to go on. Nothing is
// retried: a record sent again is a second record, with an `attache-id` of
// its own.
type ProduceStream struct {
	k      *KafkaClient
	stream *connect.BidiStreamForClient[kafkav1.ProduceStreamRequest, kafkav1.ProduceStreamResponse]
	cancel context.CancelFunc

	sendMu   sync.Mutex // sequence, then Send, in one order
	sequence uint64

	mu      sync.Mutex
	pending map[uint64]chan produceAnswer
	order   []uint64 // pending sequences, in the order sent
	failure error
	closing bool
	ended   chan struct{}
}

type produceAnswer struct {
	results []ProduceResult
	err     error
}

// ProduceStream opens a stream of pipelined sends; Close it when done.
// The stream lives until Close or until ctx ends.
func (k *KafkaClient) ProduceStream(ctx context.Context) (*ProduceStream, error) {
	stream, cancel := openStream(ctx, k.rpc.ProduceStream)
	s := &ProduceStream{
		k: k, stream: stream, cancel: cancel,
		pending: map[uint64]chan produceAnswer{}, ended: make(chan struct{}),
	}
	go s.receive()
	return s, nil
}

func (s *ProduceStream) receive() {
	var end error
	for {
		msg, err := s.stream.Receive()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				end = asError(err)
			}
			break
		}
		s.mu.Lock()
		ch, ok := s.pending[msg.GetSequence()]
		if ok {
			delete(s.pending, msg.GetSequence())
			s.order = deleteValue(s.order, msg.GetSequence())
		}
		s.mu.Unlock()
		if !ok {
			end = newError(CodeInternal, "the sidecar answered message %d, which is not awaiting an answer", msg.GetSequence())
			break
		}
		ch <- produceAnswer{results: toResults(msg.GetResults())}
	}
	s.finish(end, true)
}

// finish ends the stream: the first unanswered send gets the failure
// (from the sidecar, it is that send's), later ones CodeAborted.
func (s *ProduceStream) finish(failure error, fromServer bool) {
	s.mu.Lock()
	if s.failure != nil {
		s.mu.Unlock()
		return
	}
	if failure == nil && len(s.pending) > 0 {
		failure = newError(CodeInternal, "the sidecar ended the stream without answering every message")
	}
	if failure == nil {
		s.failure = ErrClosed
	} else {
		s.failure = newError(CodeFailedPrecondition, "the stream has ended (%v); open a new one", failure)
	}
	for i, seq := range s.order {
		err := failure
		if i > 0 && fromServer {
			err = newError(CodeAborted, "the stream ended before this message was answered (an earlier one failed: %v); it may or may not have been spooled", failure)
		}
		s.pending[seq] <- produceAnswer{err: err}
	}
	s.pending, s.order = map[uint64]chan produceAnswer{}, nil
	s.mu.Unlock()
	s.cancel()
	close(s.ended)
}

func deleteValue(s []uint64, v uint64) []uint64 {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// Send sends records as one message and returns one result per record
// once each is acknowledged as ack says (AckSpooled when none is given).
// Either every record of a send is spooled or none is. ctx bounds the wait
// for the answer (the client's timeout when it has no deadline); answers
// come in order, so one that does not come in time ends the stream.
func (s *ProduceStream) Send(ctx context.Context, records []KafkaRecord, ack ...KafkaAck) ([]ProduceResult, error) {
	a, err := oneAck(ack)
	if err != nil {
		return nil, err
	}
	rs, err := toRecords(records)
	if err != nil {
		return nil, err
	}
	ch := make(chan produceAnswer, 1)
	s.sendMu.Lock()
	s.mu.Lock()
	if s.failure != nil || s.closing {
		failure := s.failure
		s.mu.Unlock()
		s.sendMu.Unlock()
		if failure == nil || failure == ErrClosed {
			return nil, ErrClosed
		}
		return nil, failure
	}
	s.sequence++
	seq := s.sequence
	s.pending[seq] = ch
	s.order = append(s.order, seq)
	s.mu.Unlock()
	err = s.stream.Send(&kafkav1.ProduceStreamRequest{Records: rs, Ack: a, Sequence: seq})
	s.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the sidecar ended the stream; receive() says why.
		s.finish(asError(err), false)
	}
	ctx, cancel := withDefaultDeadline(ctx, s.k.c.timeout)
	defer cancel()
	select {
	case answer := <-ch:
		return answer.results, answer.err
	case <-ctx.Done():
		s.finish(newError(CodeDeadlineExceeded, "no answer from the sidecar in time (%v); the stream is ended", ctx.Err()), false)
		answer := <-ch
		return answer.results, answer.err
	}
}

// Close closes the stream: no more sends; it returns once those in
// flight are answered (or have failed) and the stream is over, or when ctx
// ends (then the stream is cut).
func (s *ProduceStream) Close(ctx context.Context) error {
	s.sendMu.Lock()
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if !already {
		_ = s.stream.CloseRequest()
	}
	s.sendMu.Unlock()
	ctx, cancel := withDefaultDeadline(ctx, s.k.c.timeout)
	defer cancel()
	select {
	case <-s.ended:
	case <-ctx.Done():
		s.finish(newError(CodeDeadlineExceeded, "the sidecar did not end the stream in time"), false)
	}
	_ = s.stream.CloseResponse()
	return nil
}

// KafkaStart is where a group with no committed offset starts reading a
// partition.
type KafkaStart string

// The starts.
const (
	// StartEarliest (the default): the partition's oldest record.
	StartEarliest KafkaStart = "earliest"
	// StartLatest: the next record produced.
	StartLatest KafkaStart = "latest"
)

var starts = map[KafkaStart]kafkav1.StartFrom{
	"": kafkav1.StartFrom_START_FROM_EARLIEST, StartEarliest: kafkav1.StartFrom_START_FROM_EARLIEST, StartLatest: kafkav1.StartFrom_START_FROM_LATEST,
}

// KafkaPosition names one record, to acknowledge it.
type KafkaPosition struct {
	Topic     string
	Partition int32
	Offset    int64
}

// TopicPartition is one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ConsumedRecord is a record read from Kafka.
type ConsumedRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	// Key is nil when the record has none.
	Key []byte
	// Value is nil for a null value (a tombstone).
	Value []byte
	// Headers are in order, `attache-id` among them.
	Headers []KafkaHeader
	// Timestamp is as the record carries it.
	Timestamp time.Time
	// ID is the `attache-id` header: the same on every delivery of a
	// record the sidecar produced, to drop duplicates by; empty for
	// records produced otherwise.
	ID string
}

// Position is the record's position, to acknowledge it.
func (r *ConsumedRecord) Position() KafkaPosition {
	return KafkaPosition{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

func toConsumed(r *kafkav1.ConsumedRecord) ConsumedRecord {
	out := ConsumedRecord{
		Topic: r.GetTopic(), Partition: r.GetPartition(), Offset: r.GetOffset(), Key: r.Key, Value: r.Value,
		Timestamp: time.UnixMilli(r.GetTimestampMs()),
	}
	for _, h := range r.GetHeaders() {
		out.Headers = append(out.Headers, KafkaHeader{Key: h.GetKey(), Value: h.Value})
		if h.GetKey() == "attache-id" && out.ID == "" && h.Value != nil {
			out.ID = string(h.Value)
		}
	}
	return out
}

// FetchOptions are Fetch's options.
type FetchOptions struct {
	Group  string
	Topics []string
	// MaxRecords is the most records in the lease; 0 is 100.
	MaxRecords uint32
	// MaxWait is how long to wait for a first record (at most a minute);
	// 0 is 1 s, and a negative value answers at once.
	MaxWait time.Duration
	// LeaseTTL is how long the caller has to Commit; 0 is the sidecar's
	// kafka.consumer.lease_timeout, which is also the most it may be.
	LeaseTTL time.Duration
	Start    KafkaStart
}

// Lease is records Fetch leased to this caller: no other caller of the
// group gets them while the lease lasts. Commit the handled ones before it
// ends; those left out, and all of them if the lease runs out first, go to
// a later Fetch of the group.
type Lease struct {
	// ID is the sidecar's id for the lease; empty when no record came.
	ID string
	// Records are in the order the group's consumer read them; empty when
	// none came within MaxWait.
	Records []ConsumedRecord
	k       *KafkaClient
}

// CommitResult is what a Commit did.
type CommitResult struct {
	// Acked counts the records acknowledged.
	Acked uint32
	// Redelivered counts the records of the lease left out, which a later
	// Fetch delivers again.
	Redelivered uint32
}

// Fetch leases up to MaxRecords of the group's records, waiting up to
// MaxWait for the first: for callers that cannot hold a Consumer open.
// The group's member lives in the sidecar, shared by every Fetch of the
// group on the host; its first Fetch joins the group, which takes a
// moment. When ctx has no deadline, the call's is MaxWait plus the
// client's timeout; a deadline that comes before MaxWait is
// CodeInvalidArgument.
func (k *KafkaClient) Fetch(ctx context.Context, o FetchOptions) (*Lease, error) {
	start, err := pick(starts, o.Start, "start")
	if err != nil {
		return nil, err
	}
	maxWait := o.MaxWait
	switch {
	case maxWait == 0:
		maxWait = time.Second
	case maxWait < 0:
		maxWait = 0
	case maxWait > time.Minute:
		maxWait = time.Minute
	}
	maxRecords := o.MaxRecords
	if maxRecords == 0 {
		maxRecords = 100
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= maxWait {
		return nil, badArgument("max_wait", "the context's deadline (in %v) must be later than the wait for records (%v)", time.Until(deadline).Round(time.Millisecond), maxWait)
	}
	ctx, cancel := withDefaultDeadline(ctx, maxWait+k.c.timeout)
	defer cancel()
	leaseMs := o.LeaseTTL.Milliseconds()
	if leaseMs > 3_600_000 {
		leaseMs = 3_600_000
	}
	reply, err := unary[kafkav1.FetchResponse](k.c, ctx, kafkav1connect.KafkaServiceFetchProcedure, &kafkav1.FetchRequest{
		Group: o.Group, Topics: o.Topics, MaxRecords: maxRecords, MaxWaitMs: uint32(maxWait.Milliseconds()),
		LeaseMs: uint32(max(0, leaseMs)), Start: start,
	})
	if err != nil {
		return nil, err
	}
	lease := &Lease{ID: reply.GetLeaseId(), k: k}
	for _, r := range reply.GetRecords() {
		lease.Records = append(lease.Records, toConsumed(r))
	}
	return lease, nil
}

// CommitAll acknowledges every record of the lease and ends it.
func (l *Lease) CommitAll(ctx context.Context) (CommitResult, error) {
	return l.commit(ctx, nil, true)
}

// Commit acknowledges the records at positions (records of the lease)
// and ends the lease; its other records are delivered again by a later
// Fetch. CodeNotFound when the lease is over (committed already, or
// expired: its records are delivered again, perhaps already handled
// elsewhere). Not retried: a commit that went through and is sent again
// is CodeNotFound. An empty lease commits without a call.
func (l *Lease) Commit(ctx context.Context, positions ...KafkaPosition) (CommitResult, error) {
	for i, p := range positions {
		found := false
		for _, r := range l.Records {
			if r.Topic == p.Topic && r.Partition == p.Partition && r.Offset == p.Offset {
				found = true
				break
			}
		}
		if !found {
			return CommitResult{}, badArgument("acked["+itoa(i)+"]", "%s/%d offset %d is not a record of this lease", p.Topic, p.Partition, p.Offset)
		}
	}
	return l.commit(ctx, positions, false)
}

func (l *Lease) commit(ctx context.Context, positions []KafkaPosition, all bool) (CommitResult, error) {
	if len(l.Records) == 0 {
		return CommitResult{}, nil
	}
	req := &kafkav1.CommitRequest{LeaseId: l.ID, All: all}
	for _, p := range positions {
		req.Acked = append(req.Acked, &kafkav1.Position{Topic: p.Topic, Partition: p.Partition, Offset: p.Offset})
	}
	reply, err := unary[kafkav1.CommitResponse](l.k.c, ctx, kafkav1connect.KafkaServiceCommitProcedure, req)
	if err != nil {
		return CommitResult{}, err
	}
	return CommitResult{Acked: reply.GetAcked(), Redelivered: reply.GetRedelivered()}, nil
}

package attache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

// topic makes a topic with a random name (the broker auto-creates it on a
// metadata request) and waits until its 3 partitions have leaders.
func topic(t *testing.T) string {
	t.Helper()
	tp := name("events")
	for i := 0; ; i++ {
		out, err := exec.Command("kcat", "-b", kafkaBroker, "-L", "-t", tp, "-J").Output()
		if err != nil {
			t.Fatalf("kcat -L: %v", err)
		}
		var meta struct {
			Topics []struct {
				Topic      string
				Err        string `json:"err"`
				Partitions []struct{ Leader int }
			}
		}
		_ = json.Unmarshal(out, &meta)
		ready := false
		for _, x := range meta.Topics {
			if x.Topic == tp && x.Err == "" && len(x.Partitions) == 3 {
				ready = true
				for _, p := range x.Partitions {
					ready = ready && p.Leader >= 0
				}
			}
		}
		if ready {
			return tp
		}
		if i > 100 {
			t.Fatalf("topic %s never became available: %s", tp, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type kcatRecord struct {
	Partition int32
	Offset    int64
	Ts        int64
	Key       *string
	Payload   *string
	Headers   []*string
}

// readTopic reads topic with kcat, the independent client, until it holds
// at least count records (or 30 s pass).
func readTopic(t *testing.T, topic string, count int) []kcatRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("kcat", "-C", "-b", kafkaBroker, "-t", topic, "-o", "beginning", "-e", "-q", "-J").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		var records []kcatRecord
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" {
				continue
			}
			var r kcatRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("kcat output %q: %v", line, err)
			}
			records = append(records, r)
		}
		if len(records) >= count || time.Now().After(deadline) {
			return records
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func header(r kcatRecord, key string) string {
	for i := 0; i+1 < len(r.Headers); i += 2 {
		if r.Headers[i] != nil && *r.Headers[i] == key && r.Headers[i+1] != nil {
			return *r.Headers[i+1]
		}
	}
	return ""
}

func TestKafkaProduce(t *testing.T) {
	ctx := context.Background()
	tp := topic(t)
	p := int32(2)
	at := time.UnixMilli(1_700_000_000_123)
	results := must[[]attache.ProduceResult](t)(client.Kafka.Produce(ctx, []attache.KafkaRecord{
		{Topic: tp, Key: []byte("k1"), Value: []byte("v1"), Headers: []attache.KafkaHeader{{Key: "trace", Value: []byte("abc")}, {Key: "flag"}}, Timestamp: at},
		{Topic: tp, Value: []byte("to partition 2"), Partition: &p},
	}, attache.AckDelivered))
	equal(t, len(results), 2, "results")
	for _, r := range results {
		if r.ID == "" || r.Partition < 0 || r.Offset < 0 || r.Err != nil {
			t.Fatalf("a delivered result without its place: %+v", r)
		}
	}
	equal(t, results[1].Partition, int32(2), "explicit partition")

	spooled := must[[]attache.ProduceResult](t)(client.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: tp, Key: []byte("k1"), Value: []byte("v2")}}))
	equal(t, spooled[0].Partition, int32(-1), "a spooled result has no partition yet")

	read := readTopic(t, tp, 3)
	equal(t, len(read), 3, "records in Kafka")
	byID := map[string]kcatRecord{}
	for _, r := range read {
		byID[header(r, "attache-id")] = r
	}
	first, ok := byID[results[0].ID]
	if !ok {
		t.Fatalf("no record with attache-id %s in %+v", results[0].ID, read)
	}
	equal(t, fmt.Sprintln(*first.Key, *first.Payload, header(first, "trace"), first.Ts, first.Partition, first.Offset),
		fmt.Sprintln("k1", "v1", "abc", at.UnixMilli(), results[0].Partition, results[0].Offset), "the first record as kcat reads it")
	second := byID[spooled[0].ID]
	equal(t, second.Partition, first.Partition, "same key, same partition")
}

func TestKafkaProduceBadInput(t *testing.T) {
	ctx := context.Background()
	_, err := client.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "fine"}, {Topic: "not fine!"}})
	wantCode(t, err, attache.CodeInvalidArgument, "records[1].topic")
	_, err = client.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t", Headers: []attache.KafkaHeader{{Key: "attache-id", Value: []byte("x")}}}})
	wantCode(t, err, attache.CodeInvalidArgument, "records[0].headers")
	_, err = client.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t"}}, "eventually")
	wantCode(t, err, attache.CodeInvalidArgument, "ack")
}

func TestKafkaProduceStream(t *testing.T) {
	ctx := context.Background()
	tp := topic(t)
	stream := must[*attache.ProduceStream](t)(client.Kafka.ProduceStream(ctx))
	var wg sync.WaitGroup
	ids := make(chan string, 80)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				res, err := stream.Send(ctx, []attache.KafkaRecord{{Topic: tp, Value: fmt.Appendf(nil, "%d-%d", g, i)}})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- res[0].ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	equal(t, len(ids), 80, "answers")
	res := must[[]attache.ProduceResult](t)(stream.Send(ctx, []attache.KafkaRecord{{Topic: tp, Value: []byte("last")}}, attache.AckDelivered))
	if res[0].Offset < 0 {
		t.Fatalf("delivered send: %+v", res[0])
	}
	// A bad message ends the stream with its error; later sends fail.
	_, err := stream.Send(ctx, []attache.KafkaRecord{{Topic: "bad topic"}})
	wantCode(t, err, attache.CodeInvalidArgument, "records[0].topic")
	_, err = stream.Send(ctx, []attache.KafkaRecord{{Topic: tp}})
	wantCode(t, err, attache.CodeFailedPrecondition, "open a new one")
	if err := stream.Close(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, len(readTopic(t, tp, 81)), 81, "records in Kafka")

	closed := must[*attache.ProduceStream](t)(client.Kafka.ProduceStream(ctx))
	must[[]attache.ProduceResult](t)(closed.Send(ctx, []attache.KafkaRecord{{Topic: tp}}))
	if err := closed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := closed.Send(ctx, []attache.KafkaRecord{{Topic: tp}}); !errors.Is(err, attache.ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
}

func TestKafkaConsumeAndAck(t *testing.T) {
	ctx := context.Background()
	tp, group := topic(t), name("group")
	var records []attache.KafkaRecord
	for i := range 20 {
		records = append(records, attache.KafkaRecord{Topic: tp, Key: fmt.Appendf(nil, "k%d", i%4), Value: fmt.Appendf(nil, "%d", i)})
	}
	produced := must[[]attache.ProduceResult](t)(client.Kafka.Produce(ctx, records, attache.AckDelivered))

	var assigned sync.Map
	consumer := must[*attache.Consumer](t)(client.Kafka.Consume(ctx, attache.ConsumeOptions{
		Group: group, Topics: []string{tp},
		OnAssigned: func(ps []attache.TopicPartition) {
			for _, p := range ps {
				assigned.Store(p, true)
			}
		},
	}))
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var got []string
	for m, err := range consumer.Messages(wait) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.ID)
		if !m.Ack() {
			t.Fatal("Ack of a fresh record returned false")
		}
		if m.Ack() {
			t.Fatal("a second Ack returned true")
		}
		if len(got) == 20 {
			break
		}
	}
	want := make([]string, len(produced))
	for i, r := range produced {
		want[i] = r.ID
	}
	slices.Sort(got)
	slices.Sort(want)
	equal(t, fmt.Sprint(got), fmt.Sprint(want), "every produced record, by attache-id")
	if len(consumer.Assignment()) != 3 {
		t.Fatalf("assignment %v", consumer.Assignment())
	}
	n := 0
	assigned.Range(func(any, any) bool { n++; return true })
	equal(t, n, 3, "partitions OnAssigned saw")
	if err := consumer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.Receive(ctx); !errors.Is(err, attache.ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}

	// The group committed what was acknowledged: a new member gets only
	// what came since.
	later := must[[]attache.ProduceResult](t)(client.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: tp, Value: []byte("later")}}))
	again := must[*attache.Consumer](t)(client.Kafka.Consume(ctx, attache.ConsumeOptions{Group: group, Topics: []string{tp}}))
	defer again.Close(ctx)
	m := must[*attache.ConsumedMessage](t)(again.Receive(wait))
	equal(t, m.ID, later[0].ID, "only the record produced after the commit")
	equal(t, string(m.Value), "later", "value")
}

func TestKafkaConsumeBadInput(t *testing.T) {
	ctx := context.Background()
	c := must[*attache.Consumer](t)(client.Kafka.Consume(ctx, attache.ConsumeOptions{Group: "", Topics: []string{"t"}}))
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Receive(wait)
	wantCode(t, err, attache.CodeInvalidArgument, "group")
	if _, err := c.Receive(wait); !errors.Is(err, attache.ErrClosed) {
		t.Fatalf("the failure is reported once, then ErrClosed: %v", err)
	}
	_, err = client.Kafka.Consume(ctx, attache.ConsumeOptions{Group: "g", Topics: []string{"t"}, Start: "middle"})
	wantCode(t, err, attache.CodeInvalidArgument, "start")

	// The context given to Consume ends the consumer.
	short, cancelShort := context.WithCancel(ctx)
	c = must[*attache.Consumer](t)(client.Kafka.Consume(short, attache.ConsumeOptions{Group: name("g"), Topics: []string{topic(t)}}))
	cancelShort()
	_, err = c.Receive(wait)
	wantCode(t, err, attache.CodeCanceled)
}

func TestKafkaFetchAndCommit(t *testing.T) {
	ctx := context.Background()
	tp, group := topic(t), name("lease")
	var records []attache.KafkaRecord
	for i := range 5 {
		records = append(records, attache.KafkaRecord{Topic: tp, Key: []byte("same"), Value: fmt.Appendf(nil, "%d", i)})
	}
	must[[]attache.ProduceResult](t)(client.Kafka.Produce(ctx, records, attache.AckDelivered))

	var lease *attache.Lease
	for i := 0; i < 10; i++ { // the first Fetch joins the group, which takes a moment
		lease = must[*attache.Lease](t)(client.Kafka.Fetch(ctx, attache.FetchOptions{Group: group, Topics: []string{tp}, MaxRecords: 10, MaxWait: 5 * time.Second}))
		if len(lease.Records) == 5 {
			break
		}
		if len(lease.Records) > 0 {
			must[attache.CommitResult](t)(lease.Commit(ctx)) // none acked: all come again
		}
	}
	equal(t, len(lease.Records), 5, "leased records")
	equal(t, string(lease.Records[0].Value), "0", "in order")
	_, err := lease.Commit(ctx, attache.KafkaPosition{Topic: tp, Partition: 99, Offset: 0})
	wantCode(t, err, attache.CodeInvalidArgument, "acked[0]")
	res := must[attache.CommitResult](t)(lease.Commit(ctx, lease.Records[0].Position(), lease.Records[1].Position()))
	equal(t, res, attache.CommitResult{Acked: 2, Redelivered: 3}, "partial commit")
	_, err = lease.CommitAll(ctx)
	wantCode(t, err, attache.CodeNotFound)

	again := must[*attache.Lease](t)(client.Kafka.Fetch(ctx, attache.FetchOptions{Group: group, Topics: []string{tp}, MaxWait: 5 * time.Second}))
	equal(t, len(again.Records), 3, "the records left out come again")
	equal(t, string(again.Records[0].Value), "2", "from the first left out")
	equal(t, must[attache.CommitResult](t)(again.CommitAll(ctx)), attache.CommitResult{Acked: 3}, "commit all")

	empty := must[*attache.Lease](t)(client.Kafka.Fetch(ctx, attache.FetchOptions{Group: group, Topics: []string{tp}, MaxWait: -1}))
	equal(t, empty.ID, "", "an empty lease has no id")
	equal(t, must[attache.CommitResult](t)(empty.CommitAll(ctx)), attache.CommitResult{}, "committing an empty lease")

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = client.Kafka.Fetch(short, attache.FetchOptions{Group: group, Topics: []string{tp}, MaxWait: time.Second})
	wantCode(t, err, attache.CodeInvalidArgument, "max_wait")
	_, err = client.Kafka.Fetch(ctx, attache.FetchOptions{Group: "", Topics: []string{tp}, MaxWait: -1})
	wantCode(t, err, attache.CodeInvalidArgument, "group")
	_, err = client.Kafka.Fetch(ctx, attache.FetchOptions{Group: group, Topics: []string{"bad topic!"}, MaxWait: -1})
	wantCode(t, err, attache.CodeInvalidArgument, "topics[0]")
}

func TestKafkaWithoutBrokersOrDisabled(t *testing.T) {
	ctx := context.Background()
	_, off := newSidecar(t, map[string]string{"ATTACHE_KAFKA_ENABLED": "false"})
	_, err := off.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t", Value: []byte("x")}})
	wantCode(t, err, attache.CodeFailedPrecondition)

	// No brokers: the spool takes records; anything that needs Kafka is
	// refused.
	_, spoolOnly := newSidecar(t, nil)
	res := must[[]attache.ProduceResult](t)(spoolOnly.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t", Value: []byte("x")}}))
	if res[0].ID == "" {
		t.Fatal("no id")
	}
	_, err = spoolOnly.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t"}}, attache.AckDelivered)
	wantCode(t, err, attache.CodeFailedPrecondition)
	_, err = spoolOnly.Kafka.Fetch(ctx, attache.FetchOptions{Group: "g", Topics: []string{"t"}, MaxWait: -1})
	wantCode(t, err, attache.CodeFailedPrecondition)
	c := must[*attache.Consumer](t)(spoolOnly.Kafka.Consume(ctx, attache.ConsumeOptions{Group: "g", Topics: []string{"t"}}))
	_, err = c.Receive(ctx)
	wantCode(t, err, attache.CodeFailedPrecondition)
}

// Kafka down: records are acknowledged once spooled, and a delivered ack
// waits for Kafka within the deadline.
func TestKafkaBrokerDown(t *testing.T) {
	ctx := context.Background()
	_, down := newSidecar(t, map[string]string{"ATTACHE_KAFKA_BROKERS": fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	res := must[[]attache.ProduceResult](t)(down.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t", Value: []byte("kept")}}))
	if res[0].ID == "" {
		t.Fatal("no id")
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err := down.Kafka.Produce(short, []attache.KafkaRecord{{Topic: "t"}}, attache.AckDelivered)
	wantCode(t, err, attache.CodeDeadlineExceeded)
}

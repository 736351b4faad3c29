// The Go part of the demo: the order service. It finds the user the Python
// app registered with the very read Python cached (a hit in the sidecar's
// cache, not a query of its own), and places that user's first order on
// Kafka, which the Node app's last step picks up from the billing group.
// Exits 1 when what the earlier apps did is not what it finds.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

func say(format string, a ...any) { fmt.Printf("[go]   "+format+"\n", a...) }

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[go]   FAILED: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	ctx := context.Background()
	client, err := attache.New()
	if err != nil {
		fail("%v", err)
	}
	defer client.Close()

	// The same statement and parameter as the Python app's read: one cache
	// for every process on the host, whatever its language.
	t := time.Now()
	rows, err := client.Postgres.Query(ctx,
		"select id, name, (select count(*) from demo_users) as users from demo_users where email = $1",
		"grace@example.com", attache.CacheTTL(time.Minute))
	if err != nil {
		fail("postgres query: %v", err)
	}
	type user struct {
		ID    int64
		Name  string
		Users int64
	}
	grace, err := attache.ScanOne[user](rows)
	if err != nil {
		fail("grace@example.com, which the Python app inserted: %v", err)
	}
	say("postgres Query(CacheTTL) -> %s, id %d, one of %d users (cache %s, %d ms old: the Python app's read; %.1f ms)",
		grace.Name, grace.ID, grace.Users, rows.Cache.Status, rows.Cache.Age.Milliseconds(), float64(time.Since(t).Microseconds())/1000)
	if grace.Name != "Grace" || rows.Cache.Status != attache.CacheHit {
		fail("expected Grace from the Python app's cached read, got %q (cache %s)", grace.Name, rows.Cache.Status)
	}

	// Her first order, on the topic the PHP app billed; ack delivered: it
	// is in Kafka before the Node app looks for it.
	value, _ := json.Marshal(map[string]any{"order": 1001, "total": 42, "email": "grace@example.com"})
	t = time.Now()
	results, err := client.Kafka.Produce(ctx, []attache.KafkaRecord{{
		Topic: "demo.orders", Key: []byte("customer-" + strconv.FormatInt(grace.ID, 10)), Value: value,
	}}, attache.AckDelivered)
	if err != nil {
		fail("kafka produce: %v", err)
	}
	r := results[0]
	say("kafka Produce(AckDelivered) -> order #1001 for %s at partition %d, offset %d, attache-id %s (%.1f ms)",
		grace.Name, r.Partition, r.Offset, r.ID, float64(time.Since(t).Microseconds())/1000)
	// Hand the record's id to the Node app's last step.
	if path := os.Getenv("DEMO_ORDER_FILE"); path != "" {
		if err := os.WriteFile(path, []byte(r.ID), 0o600); err != nil {
			fail("%v", err)
		}
	}
}

package main

// The ops of conformance/README.md, each through the SDK's public API.

import (
	"context"
	"errors"
	"fmt"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

var ops = map[string]handler{
	"sidecar.info":         op(sidecarInfo),
	"password.hash":        op(passwordHash),
	"password.verify":      op(passwordVerify),
	"image.resize":         op(imageResize),
	"image.resize_many":    op(imageResizeMany),
	"image.probe":          op(imageProbe),
	"redis.do":             op(redisDo),
	"redis.do_multi":       op(redisDoMulti),
	"redis.do_cached":      op(redisDoCached),
	"redis.mget_cached":    op(redisMGetCached),
	"redis.batch":          op(redisBatch),
	"redis.subscribe":      op(redisSubscribe),
	"postgres.query":       op(postgresQuery),
	"postgres.execute":     op(postgresExecute),
	"postgres.insert":      op(postgresInsert),
	"postgres.get_or_load": op(postgresGetOrLoad),
	"postgres.transaction": op(postgresTransaction),
	"kafka.produce":        op(kafkaProduce),
	"kafka.produce_stream": op(kafkaProduceStream),
	"kafka.fetch":          op(kafkaFetch),
	"kafka.consume":        op(kafkaConsume),
}

func ms(n uint64) time.Duration { return time.Duration(n) * time.Millisecond }

// streamDeadline bounds an op that waits on a stream (for messages,
// records) by the client's timeout when the request gave no timeout_ms,
// as the SDK bounds a unary call: a case that never gets its messages
// fails instead of hanging the runner.
func streamDeadline(ctx context.Context, c *attache.Client) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.Timeout())
}

// Sidecar

func sidecarInfo(ctx context.Context, c *attache.Client, _ struct{}) (any, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	modules := append([]string{}, info.Modules...) // none is [], not null
	return obj{"version": info.Version, "modules": modules}, nil
}

// Password

type hashArgs struct {
	Password  string `json:"password"`
	Algorithm string `json:"algorithm"`
	Params    struct {
		MemoryKiB   uint32 `json:"memory_kib"`
		Iterations  uint32 `json:"iterations"`
		Parallelism uint32 `json:"parallelism"`
		Cost        uint32 `json:"cost"`
		LogN        uint32 `json:"log_n"`
		R           uint32 `json:"r"`
		P           uint32 `json:"p"`
	} `json:"params"`
}

func passwordHash(ctx context.Context, c *attache.Client, a hashArgs) (any, error) {
	p := a.Params
	hash, err := c.Password.HashWith(ctx, a.Password, attache.HashOptions{
		Algorithm:       attache.Algorithm(a.Algorithm),
		Argon2MemoryKiB: p.MemoryKiB, Argon2Iterations: p.Iterations, Argon2Parallelism: p.Parallelism,
		BcryptCost: p.Cost,
		ScryptLogN: p.LogN, ScryptR: p.R, ScryptP: p.P,
	})
	if err != nil {
		return nil, err
	}
	return obj{"hash": hash}, nil
}

func passwordVerify(ctx context.Context, c *attache.Client, a struct {
	Password string `json:"password"`
	Hash     string `json:"hash"`
}) (any, error) {
	v, err := c.Password.Verify(ctx, a.Password, a.Hash)
	if err != nil {
		return nil, err
	}
	return obj{"valid": v.Valid, "needs_rehash": v.NeedsRehash}, nil
}

// Image

type resizeOptions struct {
	Width              uint32 `json:"width"`
	Height             uint32 `json:"height"`
	Fit                string `json:"fit"`
	Gravity            string `json:"gravity"`
	Format             string `json:"format"`
	Quality            uint32 `json:"quality"`
	WithoutEnlargement bool   `json:"without_enlargement"`
	Background         string `json:"background"`
	Progressive        bool   `json:"progressive"`
	KeepMetadata       bool   `json:"keep_metadata"`
}

func (o resizeOptions) sdk() attache.ResizeOptions {
	return attache.ResizeOptions{
		Width: o.Width, Height: o.Height, Fit: attache.Fit(o.Fit), Gravity: attache.Gravity(enum(o.Gravity, "")),
		Format: attache.ImageFormat(o.Format), Quality: o.Quality, WithoutEnlargement: o.WithoutEnlargement,
		Background: o.Background, Progressive: o.Progressive, KeepMetadata: o.KeepMetadata,
	}
}

func resized(r attache.ResizedImage) obj {
	return obj{"format": string(r.Format), "width": r.Width, "height": r.Height, "size": len(r.Data)}
}

func imageResize(ctx context.Context, c *attache.Client, a struct {
	Image blob `json:"image"`
	resizeOptions
}) (any, error) {
	r, err := c.Image.Resize(ctx, a.Image, a.resizeOptions.sdk())
	if err != nil {
		return nil, err
	}
	return resized(r), nil
}

func imageResizeMany(ctx context.Context, c *attache.Client, a struct {
	Image   blob            `json:"image"`
	Outputs []resizeOptions `json:"outputs"`
}) (any, error) {
	options := make([]attache.ResizeOptions, len(a.Outputs))
	for i, o := range a.Outputs {
		options[i] = o.sdk()
	}
	images, err := c.Image.ResizeMany(ctx, a.Image, options...)
	if err != nil {
		return nil, err
	}
	outputs := make([]any, len(images))
	for i, r := range images {
		outputs[i] = resized(r)
	}
	return obj{"outputs": outputs}, nil
}

func imageProbe(ctx context.Context, c *attache.Client, a struct {
	Image blob `json:"image"`
}) (any, error) {
	i, err := c.Image.Probe(ctx, a.Image)
	if err != nil {
		return nil, err
	}
	return obj{
		"format": string(i.Format), "width": i.Width, "height": i.Height, "orientation": i.Orientation,
		"upright_width": i.UprightWidth, "upright_height": i.UprightHeight, "has_alpha": i.HasAlpha,
		"color_space": i.ColorSpace, "bit_depth": i.BitDepth, "progressive": i.Progressive,
		"has_icc_profile": i.HasICCProfile, "has_exif": i.HasEXIF,
	}, nil
}

// Redis

func redisDo(ctx context.Context, c *attache.Client, a struct {
	Args []blob `json:"args"`
}) (any, error) {
	v, err := c.Redis.Do(ctx, anys(a.Args)...)
	if err != nil {
		return nil, err
	}
	return obj{"reply": redisValue(v)}, nil
}

func redisDoMulti(ctx context.Context, c *attache.Client, a struct {
	Commands [][]blob `json:"commands"`
}) (any, error) {
	commands := make([][]any, len(a.Commands))
	for i, cmd := range a.Commands {
		commands[i] = anys(cmd)
	}
	replies, err := c.Redis.DoMulti(ctx, commands...)
	if err != nil {
		return nil, err
	}
	return obj{"replies": redisValues(replies)}, nil
}

type cachedArgs struct {
	Args  []blob `json:"args"`
	TTLMS uint64 `json:"ttl_ms"`
}

func redisDoCached(ctx context.Context, c *attache.Client, a cachedArgs) (any, error) {
	v, hit, err := c.Redis.DoCached(ctx, ms(a.TTLMS), anys(a.Args)...)
	if err != nil {
		return nil, err
	}
	return obj{"reply": redisValue(v), "cache_hit": hit}, nil
}

func redisMGetCached(ctx context.Context, c *attache.Client, a struct {
	Keys  []blob `json:"keys"`
	TTLMS uint64 `json:"ttl_ms"`
}) (any, error) {
	keys := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		keys[i] = string(k)
	}
	values, hits, err := c.Redis.MGetCached(ctx, ms(a.TTLMS), keys...)
	if err != nil {
		return nil, err
	}
	return obj{"values": redisValues(values), "cache_hits": hits}, nil
}

func redisBatch(ctx context.Context, c *attache.Client, a struct {
	Calls []struct {
		Do       []blob      `json:"do"`
		DoCached *cachedArgs `json:"do_cached"`
	} `json:"calls"`
}) (any, error) {
	calls := make([]attache.RedisCall, len(a.Calls))
	for i, call := range a.Calls {
		if call.DoCached != nil {
			calls[i] = attache.RedisCachedCmd(ms(call.DoCached.TTLMS), anys(call.DoCached.Args)...)
		} else {
			calls[i] = attache.RedisCmd(anys(call.Do)...)
		}
	}
	results, err := c.Redis.Batch(ctx, calls...)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(results))
	for i, r := range results {
		switch {
		case r.Err != nil:
			out[i] = obj{"error": errorOf(r.Err)}
		case a.Calls[i].DoCached != nil:
			out[i] = obj{"reply": redisValue(r.Value), "cache_hit": r.CacheHit}
		default:
			out[i] = obj{"reply": redisValue(r.Value)}
		}
	}
	return obj{"results": out}, nil
}

func redisSubscribe(ctx context.Context, c *attache.Client, a struct {
	Channels []string  `json:"channels"`
	Patterns []string  `json:"patterns"`
	Publish  [][2]blob `json:"publish"`
}) (any, error) {
	ctx, cancel := streamDeadline(ctx, c)
	defer cancel()
	sub, err := c.Redis.Subscribe(ctx, a.Channels, a.Patterns)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	for _, p := range a.Publish {
		if _, err := c.Redis.Do(ctx, "PUBLISH", []byte(p[0]), []byte(p[1])); err != nil {
			return nil, err
		}
	}
	messages := make([]any, 0, len(a.Publish))
	for len(messages) < len(a.Publish) {
		m, err := sub.Receive()
		if err != nil {
			return nil, err
		}
		messages = append(messages, obj{"channel": m.Channel, "pattern": m.Pattern, "payload": bytesOut(m.Payload)})
	}
	return obj{"messages": messages}, nil
}

// Postgres

type statement struct {
	SQL    string  `json:"sql"`
	Params []param `json:"params"`
}

func postgresQuery(ctx context.Context, c *attache.Client, a struct {
	statement
	MaxRows    *uint64 `json:"max_rows"`
	CacheTTLMS *uint64 `json:"cache_ttl_ms"`
}) (any, error) {
	args := params(a.Params)
	if a.MaxRows != nil {
		args = append(args, attache.MaxRows(*a.MaxRows))
	}
	if a.CacheTTLMS != nil {
		args = append(args, attache.CacheTTL(ms(*a.CacheTTLMS)))
	}
	rows, err := c.Postgres.Query(ctx, a.SQL, args...)
	if err != nil {
		return nil, err
	}
	return queryResult(rows), nil
}

func queryResults(all []*attache.Rows) obj {
	out := make([]any, len(all))
	for i, rows := range all {
		out[i] = queryResult(rows)
	}
	return obj{"results": out}
}

func postgresExecute(ctx context.Context, c *attache.Client, a struct {
	Statements    []statement `json:"statements"`
	Transactional bool        `json:"transactional"`
	Isolation     string      `json:"isolation"`
	ReadOnly      bool        `json:"read_only"`
}) (any, error) {
	statements := make([]attache.Statement, len(a.Statements))
	for i, s := range a.Statements {
		statements[i] = attache.Statement{SQL: s.SQL, Args: params(s.Params)}
	}
	all, err := c.Postgres.Execute(ctx, statements, attache.ExecuteOptions{
		Transactional: a.Transactional, Isolation: attache.Isolation(enum(a.Isolation, " ")), ReadOnly: a.ReadOnly,
	})
	if err != nil {
		return nil, err
	}
	return queryResults(all), nil
}

func postgresInsert(ctx context.Context, c *attache.Client, a struct {
	Table      string           `json:"table"`
	Row        map[string]param `json:"row"`
	Returning  []string         `json:"returning"`
	OnConflict *struct {
		Action string   `json:"action"`
		Target []string `json:"target"`
		Update []string `json:"update"`
	} `json:"on_conflict"`
}) (any, error) {
	row := make(map[string]any, len(a.Row))
	for column, p := range a.Row {
		row[column] = p.v
	}
	o := attache.InsertOptions{Returning: a.Returning}
	if oc := a.OnConflict; oc != nil {
		o.OnConflict, o.ConflictTarget, o.ConflictUpdate = attache.ConflictAction(oc.Action), oc.Target, oc.Update
	}
	res, err := c.Postgres.Insert(ctx, a.Table, row, o)
	if err != nil {
		return nil, err
	}
	var returned any
	if rows := res.Returned; rows.Len() > 0 {
		values := rowValues(rows, rows.Row(0))
		m := make(obj, len(values))
		for i, col := range rows.Columns {
			m[col.Name] = values[i]
		}
		returned = m
	}
	return obj{"inserted": res.Inserted, "row": returned}, nil
}

func postgresGetOrLoad(ctx context.Context, c *attache.Client, a struct {
	Key string `json:"key"`
	statement
	TTLMS uint64 `json:"ttl_ms"`
}) (any, error) {
	rows, err := c.Postgres.GetOrLoad(ctx, a.Key, ms(a.TTLMS), a.SQL, params(a.Params)...)
	if err != nil {
		return nil, err
	}
	return queryResult(rows), nil
}

// postgresTransaction runs the steps in a transaction from Begin
// (statements naming it, then Commit or Rollback) or, with stream, from
// BeginStream. A failing step ends the op with its error, the transaction
// rolled back.
func postgresTransaction(ctx context.Context, c *attache.Client, a struct {
	Stream     bool        `json:"stream"`
	Isolation  string      `json:"isolation"`
	ReadOnly   bool        `json:"read_only"`
	Deferrable bool        `json:"deferrable"`
	Steps      []statement `json:"steps"`
	End        string      `json:"end"`
}) (any, error) {
	if a.End != "commit" && a.End != "rollback" {
		return nil, fmt.Errorf("runner: end must be commit or rollback, not %q", a.End)
	}
	o := attache.TxOptions{Isolation: attache.Isolation(enum(a.Isolation, " ")), ReadOnly: a.ReadOnly, Deferrable: a.Deferrable}
	begin := c.Postgres.Begin
	if a.Stream {
		begin = c.Postgres.BeginStream
	}
	tx, err := begin(ctx, o)
	if err != nil {
		return nil, err
	}
	all := make([]*attache.Rows, 0, len(a.Steps))
	for _, s := range a.Steps {
		rows, err := tx.Query(ctx, s.SQL, params(s.Params)...)
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return nil, err
		}
		all = append(all, rows)
	}
	if a.End == "rollback" {
		err = tx.Rollback(ctx)
	} else {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return nil, err
	}
	return queryResults(all), nil
}

// Kafka

type kafkaRecordArgs struct {
	Topic     string    `json:"topic"`
	Key       blob      `json:"key"`
	Value     blob      `json:"value"`
	Headers   [][2]blob `json:"headers"`
	Partition *int32    `json:"partition"`
}

func kafkaRecords(rs []kafkaRecordArgs) []attache.KafkaRecord {
	out := make([]attache.KafkaRecord, len(rs))
	for i, r := range rs {
		out[i] = attache.KafkaRecord{Topic: r.Topic, Key: r.Key, Value: r.Value, Partition: r.Partition}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, attache.KafkaHeader{Key: string(h[0]), Value: h[1]})
		}
	}
	return out
}

func acks(ack string) []attache.KafkaAck {
	if ack == "" {
		return nil
	}
	return []attache.KafkaAck{attache.KafkaAck(ack)}
}

// produceResults writes partition and offset as null unless Kafka gave
// them (the SDK's -1).
func produceResults(results []attache.ProduceResult) []any {
	out := make([]any, len(results))
	for i, r := range results {
		res := obj{"partition": nil, "offset": nil, "error": nil}
		if r.Partition >= 0 {
			res["partition"] = r.Partition
		}
		if r.Offset >= 0 {
			res["offset"] = integer(r.Offset)
		}
		if r.Err != nil {
			res["error"] = errorOf(r.Err)
		}
		out[i] = res
	}
	return out
}

func kafkaProduce(ctx context.Context, c *attache.Client, a struct {
	Records []kafkaRecordArgs `json:"records"`
	Ack     string            `json:"ack"`
}) (any, error) {
	results, err := c.Kafka.Produce(ctx, kafkaRecords(a.Records), acks(a.Ack)...)
	if err != nil {
		return nil, err
	}
	return obj{"results": produceResults(results)}, nil
}

func kafkaProduceStream(ctx context.Context, c *attache.Client, a struct {
	Batches [][]kafkaRecordArgs `json:"batches"`
	Ack     string              `json:"ack"`
}) (any, error) {
	stream, err := c.Kafka.ProduceStream(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.Close(context.WithoutCancel(ctx))
	out := make([]any, len(a.Batches))
	for i, batch := range a.Batches {
		results, err := stream.Send(ctx, kafkaRecords(batch), acks(a.Ack)...)
		if err != nil {
			return nil, err
		}
		out[i] = produceResults(results)
	}
	return obj{"results": out}, nil
}

// kafkaFetch fetches until want records came or max_wait_ms passed (once
// when want is absent), then commits every lease or none.
func kafkaFetch(ctx context.Context, c *attache.Client, a struct {
	Group      string   `json:"group"`
	Topics     []string `json:"topics"`
	MaxRecords uint32   `json:"max_records"`
	MaxWaitMS  *uint64  `json:"max_wait_ms"`
	LeaseMS    uint64   `json:"lease_ms"`
	Start      string   `json:"start"`
	Want       int      `json:"want"`
	Commit     string   `json:"commit"`
}) (any, error) {
	if a.Commit != "all" && a.Commit != "none" {
		return nil, fmt.Errorf("runner: commit must be all or none, not %q", a.Commit)
	}
	o := attache.FetchOptions{
		Group: a.Group, Topics: a.Topics, MaxRecords: a.MaxRecords, LeaseTTL: ms(a.LeaseMS), Start: attache.KafkaStart(a.Start),
	}
	maxWait := time.Second // the SDK's default, for want's loop
	if a.MaxWaitMS != nil {
		maxWait = ms(*a.MaxWaitMS)
		o.MaxWait = maxWait
		if maxWait == 0 {
			o.MaxWait = -1 // answer at once (the SDK's 0 is its default)
		}
	}
	until := time.Now().Add(maxWait)
	var leases []*attache.Lease
	records := []any{}
	for {
		lease, err := c.Kafka.Fetch(ctx, o)
		if err != nil {
			return nil, err
		}
		leases = append(leases, lease)
		for _, r := range lease.Records {
			records = append(records, kafkaRecord(r))
		}
		left := time.Until(until)
		if len(records) >= a.Want || left <= time.Millisecond {
			break
		}
		o.MaxWait = left
	}
	committed := 0
	if a.Commit == "all" {
		for _, l := range leases {
			res, err := l.CommitAll(ctx)
			if err != nil {
				return nil, err
			}
			committed += int(res.Acked)
		}
	}
	return obj{"records": records, "committed": committed}, nil
}

// kafkaConsume reads count records from a group member, acking each if
// told, then closes it (which commits the acks).
func kafkaConsume(ctx context.Context, c *attache.Client, a struct {
	Group      string   `json:"group"`
	Topics     []string `json:"topics"`
	Start      string   `json:"start"`
	MaxUnacked uint32   `json:"max_unacked"`
	Count      int      `json:"count"`
	Ack        bool     `json:"ack"`
}) (any, error) {
	ctx, cancel := streamDeadline(ctx, c)
	defer cancel()
	consumer, err := c.Kafka.Consume(ctx, attache.ConsumeOptions{
		Group: a.Group, Topics: a.Topics, Start: attache.KafkaStart(a.Start), MaxUnacked: a.MaxUnacked,
	})
	if err != nil {
		return nil, err
	}
	records := []any{}
	var failed error
	if a.Count > 0 {
		for msg, err := range consumer.Messages(ctx) {
			if err != nil {
				failed = err
				break
			}
			records = append(records, kafkaRecord(msg.ConsumedRecord))
			if a.Ack {
				msg.Ack()
			}
			if len(records) == a.Count {
				break
			}
		}
	}
	_ = consumer.Close(context.WithoutCancel(ctx))
	if failed != nil {
		return nil, failed
	}
	if len(records) < a.Count {
		return nil, errors.New("runner: the consumer closed before it delivered every record")
	}
	return obj{"records": records}, nil
}

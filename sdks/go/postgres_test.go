package attache_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

// psql runs SQL with psql on the test server: the independent client.
func psql(t *testing.T, sql string) string {
	t.Helper()
	out, err := exec.Command("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", postgresURL, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// table makes a users table with a random name, dropped after the test.
func table(t *testing.T) string {
	t.Helper()
	tb := name("users")
	psql(t, fmt.Sprintf(`create table %s (id bigserial primary key, email text unique not null, name text, score float8, tags text[], meta jsonb, born date, seen timestamptz)`, tb))
	t.Cleanup(func() { psql(t, "drop table if exists "+tb) })
	return tb
}

func TestPostgresQueryTypesAndScan(t *testing.T) {
	ctx := context.Background()
	rows := must[*attache.Rows](t)(client.Postgres.Query(ctx, `select
		$1::int8 as big, 1.5::float8 as f, 'tëxt' as t, '\x00ff'::bytea as b, 12.340::numeric as n,
		true as ok, null::text as nothing, '2024-02-29 12:34:56.789+00'::timestamptz as at,
		'2024-02-29'::date as d, '01:02:03'::time as tod, '1 mon 2 days 3 sec'::interval as iv,
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, '{"k": [1, 2]}'::jsonb as j,
		array[[1,2],[3,4]] as grid, 'infinity'::timestamp as forever, row(1, 'x') as rec,
		'192.168.0.1'::inet as addr`, int64(9007199254740993)))
	equal(t, rows.Len(), 1, "rows")
	equal(t, rows.Columns[0].Name, "big", "column name")
	equal(t, rows.Columns[0].TypeName, "int8", "column type")
	if !rows.Next() {
		t.Fatal("no row")
	}
	var (
		big     int64
		f       float64
		text    string
		b       []byte
		n       attache.Numeric
		ok      bool
		nothing *string
		at      time.Time
		d       time.Time
		tod     time.Duration
		iv      attache.Interval
		u       string
		j       struct{ K []int }
		grid    [][]int
		forever any
		rec     []any
		addr    string
	)
	if err := rows.Scan(&big, &f, &text, &b, &n, &ok, &nothing, &at, &d, &tod, &iv, &u, &j, &grid, &forever, &rec, &addr); err != nil {
		t.Fatal(err)
	}
	equal(t, big, int64(9007199254740993), "int8 beyond 2^53 stays exact")
	equal(t, fmt.Sprintln(f, text, b, n, ok, nothing), "1.5 tëxt [0 255] 12.340 true <nil>\n", "scalars")
	equal(t, at.Format(time.RFC3339Nano), "2024-02-29T12:34:56.789Z", "timestamptz")
	equal(t, d.Format(time.DateOnly), "2024-02-29", "date")
	equal(t, tod, time.Hour+2*time.Minute+3*time.Second, "time")
	equal(t, iv, attache.Interval{Months: 1, Days: 2, Micros: 3_000_000}, "interval")
	equal(t, u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid")
	equal(t, fmt.Sprint(j.K, grid), "[1 2] [[1 2] [3 4]]", "json and 2-D array")
	equal(t, forever, any(attache.PositiveInfinity), "infinity")
	equal(t, fmt.Sprint(rec), "[1 x]", "anonymous record")
	equal(t, addr, "192.168.0.1/32", "inet as the server's text")
	if rows.Next() {
		t.Fatal("a second row")
	}
	// A NULL into a destination that cannot hold it names the column.
	rows = must[*attache.Rows](t)(client.Postgres.Query(ctx, "select null::text as missing"))
	rows.Next()
	var s string
	wantCode(t, rows.Scan(&s), attache.CodeInvalidArgument, "column missing", "NULL")
	var ns sql.NullString
	if err := rows.Scan(&ns); err != nil || ns.Valid {
		t.Fatalf("sql.NullString: %v %v", ns, err)
	}
}

type user struct {
	ID    int64
	Email string
	Name  *string
	Score float64
	Tags  []string
	Meta  map[string]any
	Born  *time.Time `db:"born"`
	Seen  *time.Time
	Skip  string `db:"-"`
}

func TestPostgresParamsAndScanAll(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	born := time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC)
	res := must[attache.CommandResult](t)(client.Postgres.Exec(ctx,
		fmt.Sprintf("insert into %s (email, name, score, tags, meta, born, seen) values ($1, $2, $3, $4, $5, $6, $7), ($8, null, 0, '{}', null, null, null)", tb),
		"a@example.com", "Ann", 2.5, []string{"x", "y"}, attache.Typed(map[string]any{"admin": true}, "jsonb"), attache.Typed(born, "date"), time.Now(),
		"b@example.com"))
	equal(t, res.CommandTag, "INSERT 0 2", "command tag")
	equal(t, res.RowsAffected, uint64(2), "rows affected")
	equal(t, psql(t, fmt.Sprintf("select tags::text || ' ' || meta::text from %s where email = 'a@example.com'", tb)), `{x,y} {"admin": true}`, "psql reads the parameters back")

	rows := must[*attache.Rows](t)(client.Postgres.Query(ctx, fmt.Sprintf("select id, email, name, score, tags, meta, born from %s order by id", tb)))
	users := must[[]user](t)(attache.ScanAll[user](rows))
	equal(t, len(users), 2, "users")
	equal(t, fmt.Sprintln(users[0].Email, *users[0].Name, users[0].Score, users[0].Tags, users[0].Meta, users[0].Born.Format(time.DateOnly)),
		"a@example.com Ann 2.5 [x y] map[admin:true] 1990-05-17\n", "first user")
	equal(t, users[1].Name == nil && users[1].Meta == nil && len(users[1].Tags) == 0, true, "NULLs and an empty array")

	ids := must[[]int64](t)(attache.ScanAll[int64](must[*attache.Rows](t)(client.Postgres.Query(ctx, "select id from "+tb+" order by id"))))
	equal(t, len(ids), 2, "ScanAll of one column")
	one := must[user](t)(attache.ScanOne[user](must[*attache.Rows](t)(client.Postgres.Query(ctx, "select id, email from "+tb+" where email = $1", "b@example.com"))))
	equal(t, one.Email, "b@example.com", "ScanOne")
	_, err := attache.ScanOne[user](must[*attache.Rows](t)(client.Postgres.Query(ctx, "select id from "+tb+" where false")))
	if !errors.Is(err, attache.ErrNoRows) {
		t.Fatalf("ScanOne of nothing: %v", err)
	}
	_, err = attache.ScanAll[user](must[*attache.Rows](t)(client.Postgres.Query(ctx, "select 1 as unknown_column")))
	wantCode(t, err, attache.CodeInvalidArgument, "unknown_column")
	maps := must[[]map[string]any](t)(attache.ScanAll[map[string]any](must[*attache.Rows](t)(client.Postgres.Query(ctx, "select 1 as a, 'x' as b"))))
	equal(t, fmt.Sprint(maps), "[map[a:1 b:x]]", "rows as maps")

	_, err = client.Postgres.Query(ctx, "select $1", make(chan int))
	wantCode(t, err, attache.CodeInvalidArgument, "params[0]")
	_, err = client.Postgres.Query(ctx, "select $1::int[]", [][]int{{1, 2}, {3}})
	wantCode(t, err, attache.CodeInvalidArgument, "rectangular")
}

func TestPostgresErrorsCarryPostgresFields(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	_, err := client.Postgres.Query(ctx, "selec 1")
	aerr := wantCode(t, err, attache.CodeInvalidArgument)
	equal(t, aerr.SQLState(), "42601", "syntax error SQLSTATE")
	equal(t, aerr.Reason(), "42601", "reason")
	equal(t, aerr.Domain(), "postgres", "domain")
	equal(t, aerr.Position(), "1", "position")

	must[attache.CommandResult](t)(client.Postgres.Exec(ctx, "insert into "+tb+" (email) values ($1)", "dup@example.com"))
	_, err = client.Postgres.Exec(ctx, "insert into "+tb+" (email) values ($1)", "dup@example.com")
	var perr *attache.Error
	if !errors.As(err, &perr) || !perr.IsUniqueViolation() || perr.Constraint() != tb+"_email_key" || !strings.Contains(perr.Detail(), "dup@example.com") {
		t.Fatalf("unique violation: %v (%v)", err, perr.Metadata())
	}
	_, err = client.Postgres.Query(ctx, "select * from "+tb, attache.MaxRows(0))
	if err != nil {
		t.Fatal(err)
	}
	must[attache.CommandResult](t)(client.Postgres.Exec(ctx, "insert into "+tb+" (email) values ('2@x'), ('3@x')"))
	_, err = client.Postgres.Query(ctx, "select * from "+tb, attache.MaxRows(2))
	wantCode(t, err, attache.CodeResourceExhausted)
	_, err = client.Postgres.Query(ctx, "set work_mem = '8MB'")
	wantCode(t, err, attache.CodeFailedPrecondition)
}

func TestPostgresExecute(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	results := must[[]*attache.Rows](t)(client.Postgres.Execute(ctx, []attache.Statement{
		{SQL: "insert into " + tb + " (email) values ($1)", Args: []any{"e1@x"}},
		{SQL: "select count(*) from " + tb},
	}, attache.ExecuteOptions{Transactional: true}))
	equal(t, len(results), 2, "results")
	equal(t, results[1].Row(0)[0], any(int64(1)), "count inside")
	// All or none: the second statement fails, the first is undone.
	_, err := client.Postgres.Execute(ctx, []attache.Statement{
		{SQL: "insert into " + tb + " (email) values ($1)", Args: []any{"e2@x"}},
		{SQL: "insert into " + tb + " (email) values ($1)", Args: []any{"e1@x"}},
	}, attache.ExecuteOptions{Transactional: true, Isolation: attache.Serializable})
	aerr := wantCode(t, err, attache.CodeAlreadyExists)
	equal(t, aerr.Metadata()["statement"], "2", "the failed statement")
	equal(t, psql(t, "select count(*) from "+tb), "1", "nothing of the failed Execute stays")
	_, err = client.Postgres.Execute(ctx, nil, attache.ExecuteOptions{Isolation: "chaotic"})
	wantCode(t, err, attache.CodeInvalidArgument, "isolation")
}

func TestPostgresInsertMergesConcurrentCallers(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	var wg sync.WaitGroup
	ids := make([]int64, 40)
	maxBatch := uint32(0)
	var mu sync.Mutex
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Postgres.Insert(ctx, tb, map[string]any{"email": fmt.Sprintf("u%d@x", i), "score": i}, attache.InsertOptions{Returning: []string{"id"}})
			if err != nil {
				t.Error(err)
				return
			}
			id := must[int64](t)(attache.ScanOne[int64](res.Returned))
			mu.Lock()
			ids[i], maxBatch = id, max(maxBatch, res.BatchSize)
			mu.Unlock()
		}()
	}
	wg.Wait()
	equal(t, psql(t, "select count(distinct id) from "+tb), "40", "rows")
	equal(t, psql(t, fmt.Sprintf("select email from %s where id = %d", tb, ids[7])), "u7@x", "each caller got its own row")
	t.Logf("largest batch: %d rows", maxBatch)

	_, err := client.Postgres.Insert(ctx, tb, map[string]any{"email": "u1@x"}, attache.InsertOptions{})
	aerr := wantCode(t, err, attache.CodeAlreadyExists, tb+"_email_key")
	equal(t, aerr.Constraint(), tb+"_email_key", "constraint")
	res := must[attache.InsertResult](t)(client.Postgres.Insert(ctx, tb, map[string]any{"email": "u1@x"}, attache.InsertOptions{OnConflict: attache.ConflictNothing}))
	equal(t, res.Inserted, false, "skipped")
	res = must[attache.InsertResult](t)(client.Postgres.Insert(ctx, tb, map[string]any{"email": "u1@x", "name": "new"}, attache.InsertOptions{
		OnConflict: attache.ConflictUpdate, ConflictTarget: []string{"email"}, ConflictUpdate: []string{"name"}, Returning: []string{"*"},
	}))
	equal(t, res.Inserted, true, "upserted")
	u := must[user](t)(attache.ScanOne[user](res.Returned))
	equal(t, *u.Name, "new", "returned row")
	_, err = client.Postgres.Insert(ctx, tb, map[string]any{"email": "z"}, attache.InsertOptions{OnConflict: "replace"})
	wantCode(t, err, attache.CodeInvalidArgument, "on_conflict")
	_, err = client.Postgres.Insert(ctx, name("no_such_table"), map[string]any{"a": 1}, attache.InsertOptions{})
	if attache.CodeOf(err) == 0 {
		t.Fatal("an insert into a missing table succeeded")
	}
}

func TestPostgresTransactions(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	err := client.Postgres.Transaction(ctx, attache.TxOptions{Isolation: attache.RepeatableRead}, func(tx *attache.Tx) error {
		if tx.ID() == "" {
			t.Error("no transaction id")
		}
		must[attache.CommandResult](t)(tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "in@x"))
		equal(t, psql(t, "select count(*) from "+tb), "0", "not visible outside before commit")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, psql(t, "select count(*) from "+tb), "1", "committed")

	boom := errors.New("boom")
	err = client.Postgres.Transaction(ctx, attache.TxOptions{}, func(tx *attache.Tx) error {
		must[attache.CommandResult](t)(tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "rolled@x"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Transaction returned %v", err)
	}
	equal(t, psql(t, "select count(*) from "+tb), "1", "rolled back")

	// Session state is allowed inside a transaction.
	tx := must[*attache.Tx](t)(client.Postgres.Begin(ctx, attache.TxOptions{}))
	must[attache.CommandResult](t)(tx.Exec(ctx, "set local work_mem = '8MB'"))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("a second rollback: %v", err)
	}
	_, err = tx.Query(ctx, "select 1")
	if attache.CodeOf(err) == 0 {
		t.Fatal("a query in an ended transaction succeeded")
	}
}

func TestPostgresStreamTransaction(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	tx := must[*attache.Tx](t)(client.Postgres.BeginStream(ctx, attache.TxOptions{Isolation: attache.Serializable}))
	must[attache.CommandResult](t)(tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "s1@x"))
	rows := must[*attache.Rows](t)(tx.Query(ctx, "select email from "+tb))
	equal(t, rows.Len(), 1, "own insert visible inside")
	equal(t, psql(t, "select count(*) from "+tb), "0", "not visible outside")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, psql(t, "select count(*) from "+tb), "1", "committed")
	_, err := tx.Query(ctx, "select 1")
	wantCode(t, err, attache.CodeFailedPrecondition, "ended")

	// A failing statement ends the transaction, rolled back.
	tx = must[*attache.Tx](t)(client.Postgres.BeginStream(ctx, attache.TxOptions{}))
	must[attache.CommandResult](t)(tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "s2@x"))
	_, err = tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "s1@x")
	wantCode(t, err, attache.CodeAlreadyExists)
	equal(t, psql(t, "select count(*) from "+tb), "1", "rolled back on failure")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback of an ended transaction: %v", err)
	}

	// Cancelling the stream's context rolls back at once.
	streamCtx, cancel := context.WithCancel(ctx)
	tx = must[*attache.Tx](t)(client.Postgres.BeginStream(streamCtx, attache.TxOptions{}))
	must[attache.CommandResult](t)(tx.Exec(ctx, "insert into "+tb+" (email) values ($1)", "s3@x"))
	cancel()
	_, err = tx.Exec(ctx, "select 1")
	if attache.CodeOf(err) != attache.CodeCanceled && attache.CodeOf(err) != attache.CodeFailedPrecondition {
		t.Fatalf("a query after the stream was cancelled: %v", err)
	}
	// The sidecar sees the stream end and rolls back: the row's locks go.
	deadline := time.Now().Add(5 * time.Second)
	for psql(t, fmt.Sprintf("select count(*) from pg_locks where relation = '%s'::regclass", tb)) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the transaction of a cancelled stream still holds its locks after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	equal(t, psql(t, "select count(*) from "+tb), "1", "a cancelled stream rolls back")

	// A statement's deadline ends the transaction.
	tx = must[*attache.Tx](t)(client.Postgres.BeginStream(ctx, attache.TxOptions{}))
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = tx.Query(short, "select pg_sleep(2)")
	wantCode(t, err, attache.CodeDeadlineExceeded)
}

func TestPostgresCachedReads(t *testing.T) {
	ctx := context.Background()
	tb := table(t)
	must[attache.CommandResult](t)(client.Postgres.Exec(ctx, "insert into "+tb+" (email, score) values ('c@x', 1)"))
	q := "select score from " + tb + " where email = $1"
	first := must[*attache.Rows](t)(client.Postgres.Query(ctx, q, "c@x", attache.CacheTTL(time.Minute)))
	equal(t, first.Cache.Status, attache.CacheMiss, "first read")
	second := must[*attache.Rows](t)(client.Postgres.Query(ctx, q, "c@x", attache.CacheTTL(time.Minute)))
	equal(t, second.Cache.Status, attache.CacheHit, "second read")
	// A write through attache invalidates it before its reply.
	must[attache.CommandResult](t)(client.Postgres.Exec(ctx, "update "+tb+" set score = 2"))
	third := must[*attache.Rows](t)(client.Postgres.Query(ctx, q, "c@x", attache.CacheTTL(time.Minute)))
	equal(t, third.Cache.Status, attache.CacheMiss, "after a write")
	equal(t, third.Row(0)[0], any(2.0), "fresh value")
	write := must[*attache.Rows](t)(client.Postgres.Query(ctx, "update "+tb+" set score = 3"))
	equal(t, write.Cache.Status, attache.CacheBypass, "a write bypasses")

	key := name("gol")
	loaded := must[*attache.Rows](t)(client.Postgres.GetOrLoad(ctx, key, time.Minute, q, "c@x"))
	equal(t, loaded.Cache.Status, attache.CacheMiss, "GetOrLoad miss")
	equal(t, loaded.Row(0)[0], any(3.0), "loaded value")
	if cli(t, "EXISTS", key) != "1" {
		t.Fatal("GetOrLoad did not store the result in Redis")
	}
	hit := must[*attache.Rows](t)(client.Postgres.GetOrLoad(ctx, key, time.Minute, q, "c@x"))
	equal(t, hit.Cache.Status, attache.CacheHit, "GetOrLoad hit")
	_, err := client.Postgres.GetOrLoad(ctx, key, 0, q, "c@x")
	wantCode(t, err, attache.CodeInvalidArgument, "ttl")
}

func TestPostgresModuleDisabledBackendDownAndDeadline(t *testing.T) {
	ctx := context.Background()
	_, off := newSidecar(t, with(map[string]string{"ATTACHE_POSTGRES_URL": ""}))
	_, err := off.Postgres.Query(ctx, "select 1")
	wantCode(t, err, attache.CodeFailedPrecondition, "ATTACHE_POSTGRES_URL")

	_, down := newSidecar(t, with(map[string]string{"ATTACHE_POSTGRES_URL": fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", freePort(t))}))
	_, err = down.Postgres.Query(ctx, "select 1")
	wantCode(t, err, attache.CodeUnavailable)

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = client.Postgres.Query(short, "select pg_sleep(5)")
	wantCode(t, err, attache.CodeDeadlineExceeded)
	var raw json.RawMessage
	_ = raw
}

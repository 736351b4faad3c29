package attache

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	postgresv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/postgres/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/postgres/v1/postgresv1connect"
)

// PostgresClient runs SQL on the sidecar's one pool of PostgreSQL
// connections, shared by every process on the host. No call is retried:
// the proto marks none idempotent. Errors carry Postgres's fields
// (Error.SQLState, Constraint, Detail, Position…); a module without
// ATTACHE_POSTGRES_URL answers CodeFailedPrecondition.
type PostgresClient struct {
	c   *Client
	rpc postgresv1connect.PostgresServiceClient
}

// Its streams go through connect-go's generated client, on the
// client's transport.
func newPostgresClient(c *Client) *PostgresClient {
	return &PostgresClient{c: c, rpc: postgresv1connect.NewPostgresServiceClient(c.transport, baseURL)}
}

// QueryOption is an option of Query given among its arguments (as pgx
// takes its query options): MaxRows or CacheTTL.
type QueryOption interface {
	apply(*postgresv1.QueryOptions)
}

type maxRows uint64

func (m maxRows) apply(o *postgresv1.QueryOptions) { o.MaxRows = uint64(m) }

// MaxRows makes a query fail with CodeResourceExhausted rather than
// return more than n rows.
func MaxRows(n uint64) QueryOption { return maxRows(n) }

type cacheTTL time.Duration

func (c cacheTTL) apply(o *postgresv1.QueryOptions) { o.CacheTtlMs = millis(time.Duration(c)) }

// CacheTTL keeps a read's result for d and answers identical reads (same
// SQL and parameters) from it, until a write through attache to a table it
// reads (a write made outside attache is seen when it expires). Capped by
// the sidecar's postgres.cache.max_ttl; Rows.Cache says whether a result
// was a hit, and why a read could not be cached.
func CacheTTL(d time.Duration) QueryOption { return cacheTTL(d) }

func queryRequest(sql string, args []any, txID string) (*postgresv1.QueryRequest, error) {
	req := &postgresv1.QueryRequest{Sql: sql, TransactionId: txID}
	var opts postgresv1.QueryOptions
	hasOpts := false
	for _, a := range args {
		if o, ok := a.(QueryOption); ok {
			o.apply(&opts)
			hasOpts = true
			continue
		}
		p, err := toParam(a, "params["+itoa(len(req.Params))+"]")
		if err != nil {
			return nil, err
		}
		req.Params = append(req.Params, p)
	}
	if hasOpts {
		req.Options = &opts
	}
	return req, nil
}

func params(args []any) ([]*postgresv1.Param, error) {
	out := make([]*postgresv1.Param, len(args))
	for i, a := range args {
		p, err := toParam(a, "params["+itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// Query runs one statement with its parameters ($1, $2, …) and returns
// its rows, e.g.
//
//	rows, err := pg.Query(ctx, "select id, name from users where id = $1", id)
//
// Arguments that are QueryOptions (MaxRows, CacheTTL) are options, not
// parameters. Identical reads running at once share one execution.
func (p *PostgresClient) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	return p.query(ctx, sql, args, "")
}

func (p *PostgresClient) query(ctx context.Context, sql string, args []any, txID string) (*Rows, error) {
	req, err := queryRequest(sql, args, txID)
	if err != nil {
		return nil, err
	}
	reply, err := unary[postgresv1.QueryResponse](p.c, ctx, postgresv1connect.PostgresServiceQueryProcedure, req)
	if err != nil {
		return nil, err
	}
	return queryRows(reply)
}

// CommandResult is what a statement did.
type CommandResult struct {
	RowsAffected uint64
	CommandTag   string
}

// Exec runs one statement for its effect: Query without the rows.
func (p *PostgresClient) Exec(ctx context.Context, sql string, args ...any) (CommandResult, error) {
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return CommandResult{}, err
	}
	return CommandResult{RowsAffected: rows.RowsAffected, CommandTag: rows.CommandTag}, nil
}

// Statement is one statement of Execute.
type Statement struct {
	SQL  string
	Args []any
}

// Isolation is a transaction isolation level; empty is the server's
// default (read committed unless configured otherwise).
type Isolation string

// The isolation levels.
const (
	ReadCommitted  Isolation = "read committed"
	RepeatableRead Isolation = "repeatable read"
	Serializable   Isolation = "serializable"
)

var isolations = map[Isolation]postgresv1.Isolation{
	"":             postgresv1.Isolation_ISOLATION_UNSPECIFIED,
	ReadCommitted:  postgresv1.Isolation_ISOLATION_READ_COMMITTED,
	RepeatableRead: postgresv1.Isolation_ISOLATION_REPEATABLE_READ,
	Serializable:   postgresv1.Isolation_ISOLATION_SERIALIZABLE,
}

// ExecuteOptions are Execute's options.
type ExecuteOptions struct {
	// Transactional runs all statements in one transaction: all of them
	// or none.
	Transactional bool
	Isolation     Isolation
	ReadOnly      bool
}

// Execute runs statements in order on one connection in one call; with
// Transactional, all of them or none. One result per statement; a failure
// names the 1-based statement in Error.Metadata()["statement"].
func (p *PostgresClient) Execute(ctx context.Context, statements []Statement, o ExecuteOptions) ([]*Rows, error) {
	isolation, err := pick(isolations, o.Isolation, "isolation")
	if err != nil {
		return nil, err
	}
	req := &postgresv1.ExecuteRequest{Transactional: o.Transactional, Isolation: isolation, ReadOnly: o.ReadOnly}
	for i, s := range statements {
		ps, err := params(s.Args)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.message = "statements[" + itoa(i) + "]." + e.message
			}
			return nil, err
		}
		req.Statements = append(req.Statements, &postgresv1.Statement{Sql: s.SQL, Params: ps})
	}
	reply, err := unary[postgresv1.ExecuteResponse](p.c, ctx, postgresv1connect.PostgresServiceExecuteProcedure, req)
	if err != nil {
		return nil, err
	}
	out := make([]*Rows, len(reply.GetResults()))
	for i, r := range reply.GetResults() {
		if out[i], err = queryRows(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ConflictAction is what Insert does with a row that conflicts with a
// unique constraint.
type ConflictAction string

// The actions.
const (
	// ConflictNothing skips the row: InsertResult.Inserted is false.
	ConflictNothing ConflictAction = "nothing"
	// ConflictUpdate updates the existing row's Update columns.
	ConflictUpdate ConflictAction = "update"
)

var conflictActions = map[ConflictAction]postgresv1.ConflictAction{
	"":              postgresv1.ConflictAction_CONFLICT_ACTION_UNSPECIFIED,
	ConflictNothing: postgresv1.ConflictAction_CONFLICT_ACTION_NOTHING,
	ConflictUpdate:  postgresv1.ConflictAction_CONFLICT_ACTION_UPDATE,
}

// InsertOptions are Insert's options.
type InsertOptions struct {
	// Returning lists the inserted row's columns to return; "*" for all.
	Returning []string
	// OnConflict is what to do with a row that breaks a unique constraint;
	// by default the call fails with CodeAlreadyExists naming the
	// constraint.
	OnConflict ConflictAction
	// ConflictTarget is the conflict target's columns (required for
	// ConflictUpdate).
	ConflictTarget []string
	// ConflictUpdate lists, for ConflictUpdate, the columns that take the
	// new row's values.
	ConflictUpdate []string
}

// InsertResult is what Insert did.
type InsertResult struct {
	// Inserted is false when ConflictNothing skipped the row.
	Inserted bool
	// Returned holds the Returning columns of the row (no row when none
	// were asked or nothing was inserted).
	Returned *Rows
	// BatchSize counts the rows in the statement that carried this one.
	BatchSize uint32
}

// Insert inserts one row: row's keys are the columns (in sorted order),
// its values sent as parameters are. Inserts of one shape (table,
// columns, conflict handling, returning list) from any callers on the host
// while one runs go together in one statement; each caller gets its own
// row back, and only a bad row's caller its error.
func (p *PostgresClient) Insert(ctx context.Context, table string, row map[string]any, o InsertOptions) (InsertResult, error) {
	action, err := pick(conflictActions, o.OnConflict, "on_conflict.action")
	if err != nil {
		return InsertResult{}, err
	}
	req := &postgresv1.InsertRequest{Table: table, Returning: o.Returning}
	if action != postgresv1.ConflictAction_CONFLICT_ACTION_UNSPECIFIED || o.ConflictTarget != nil || o.ConflictUpdate != nil {
		req.OnConflict = &postgresv1.OnConflict{Action: action, Target: o.ConflictTarget, Update: o.ConflictUpdate}
	}
	columns := make([]string, 0, len(row))
	for c := range row {
		columns = append(columns, c)
	}
	slices.Sort(columns)
	for i, c := range columns {
		v, err := toParam(row[c], "values["+itoa(i)+"]")
		if err != nil {
			return InsertResult{}, err
		}
		req.Columns = append(req.Columns, c)
		req.Values = append(req.Values, v)
	}
	reply, err := unary[postgresv1.InsertResponse](p.c, ctx, postgresv1connect.PostgresServiceInsertProcedure, req)
	if err != nil {
		return InsertResult{}, err
	}
	var rows []*postgresv1.Row
	if reply.GetRow() != nil {
		rows = []*postgresv1.Row{reply.GetRow()}
	}
	returned, err := newRows(reply.GetColumns(), rows)
	if err != nil {
		return InsertResult{}, err
	}
	returned.RowsAffected = uint64(len(rows))
	return InsertResult{Inserted: reply.GetInserted(), Returned: returned, BatchSize: reply.GetBatchSize()}, nil
}

// GetOrLoad is cache-aside in one call (the sidecar needs Redis configured
// too): the result stored at key in Redis if there is one, else sql run
// once for every concurrent caller on the host and stored at key for ttl
// (required). A write through attache to a table the query reads makes
// the stored result stale. Rows.Cache.Status is CacheHit (from Redis),
// CacheMiss (loaded; Reason says why it was not stored, if it was not) or
// CacheCoalesced.
func (p *PostgresClient) GetOrLoad(ctx context.Context, key string, ttl time.Duration, sql string, args ...any) (*Rows, error) {
	ps, err := params(args)
	if err != nil {
		return nil, err
	}
	reply, err := unary[postgresv1.GetOrLoadResponse](p.c, ctx, postgresv1connect.PostgresServiceGetOrLoadProcedure, &postgresv1.GetOrLoadRequest{Key: key, Sql: sql, Params: ps, TtlMs: millis(ttl)})
	if err != nil {
		return nil, err
	}
	rows, err := newRows(reply.GetColumns(), reply.GetRows())
	if err != nil {
		return nil, err
	}
	rows.RowsAffected, rows.Cache = uint64(len(reply.GetRows())), toCache(reply.GetCache())
	return rows, nil
}

// TxOptions are a transaction's options.
type TxOptions struct {
	Isolation Isolation
	ReadOnly  bool
	// Deferrable, with Serializable and ReadOnly, waits for a snapshot
	// that cannot fail.
	Deferrable bool
}

func (o TxOptions) proto() (*postgresv1.BeginRequest, error) {
	isolation, err := pick(isolations, o.Isolation, "isolation")
	if err != nil {
		return nil, err
	}
	return &postgresv1.BeginRequest{Isolation: isolation, ReadOnly: o.ReadOnly, Deferrable: o.Deferrable}, nil
}

// Tx is an interactive transaction: from Begin (its statements are unary
// calls naming it; the sidecar rolls it back after its idle timeout if
// this process goes away) or from BeginStream (a stream that is the
// transaction: it ends, rolled back, the moment the stream does). Its
// methods are safe for concurrent use but run one at a time.
type Tx struct {
	p  *PostgresClient
	id string

	mu     sync.Mutex
	stream *connect.BidiStreamForClient[postgresv1.TransactionRequest, postgresv1.TransactionResponse]
	cancel context.CancelFunc
	done   bool
	err    error
}

// ID is the sidecar's id for a transaction from Begin; empty for one from
// BeginStream.
func (t *Tx) ID() string { return t.id }

// Begin opens an interactive transaction. Commit or Rollback it; prefer
// Transaction, which does so for you.
func (p *PostgresClient) Begin(ctx context.Context, o TxOptions) (*Tx, error) {
	req, err := o.proto()
	if err != nil {
		return nil, err
	}
	reply, err := unary[postgresv1.BeginResponse](p.c, ctx, postgresv1connect.PostgresServiceBeginProcedure, req)
	if err != nil {
		return nil, err
	}
	return &Tx{p: p, id: reply.GetTransactionId()}, nil
}

// BeginStream opens a transaction whose lifetime is a stream of its own:
// if this process dies, the connection breaks or ctx ends before Commit,
// the sidecar rolls it back at once. A statement that fails ends it,
// rolled back.
func (p *PostgresClient) BeginStream(ctx context.Context, o TxOptions) (*Tx, error) {
	req, err := o.proto()
	if err != nil {
		return nil, err
	}
	stream, cancel := openStream(ctx, p.rpc.Transaction)
	t := &Tx{p: p, stream: stream, cancel: cancel}
	if _, err := t.step(ctx, &postgresv1.TransactionRequest{Step: &postgresv1.TransactionRequest_Begin{Begin: req}}); err != nil {
		return nil, err
	}
	return t, nil
}

// step sends one message on the transaction's stream and reads its
// answer; a failure, or ctx ending first, ends the transaction.
func (t *Tx) step(ctx context.Context, req *postgresv1.TransactionRequest) (*postgresv1.TransactionResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		if t.err != nil {
			return nil, newError(CodeFailedPrecondition, "the transaction has ended (%v); begin a new one", t.err)
		}
		return nil, newError(CodeFailedPrecondition, "the transaction has ended; begin a new one")
	}
	ctx, cancelCall := withDefaultDeadline(ctx, t.p.c.timeout)
	defer cancelCall()
	// Answers come in order on the stream: one that does not come in time
	// can only be given up with the whole stream.
	var expired atomic.Bool
	stop := context.AfterFunc(ctx, func() { expired.Store(true); t.cancel() })
	defer stop()
	fail := func(err error) (*postgresv1.TransactionResponse, error) {
		stop()
		if expired.Load() {
			err = asError(ctx.Err())
		} else {
			err = asError(err)
		}
		t.done, t.err = true, err
		t.cancel()
		return nil, err
	}
	if err := t.stream.Send(req); err != nil {
		if errors.Is(err, io.EOF) {
			_, err = t.stream.Receive()
		}
		return fail(err)
	}
	reply, err := t.stream.Receive()
	if err != nil {
		return fail(err)
	}
	return reply, nil
}

// Query runs one statement inside the transaction.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	if t.stream == nil {
		return t.p.query(ctx, sql, args, t.id)
	}
	req, err := queryRequest(sql, args, "")
	if err != nil {
		return nil, err
	}
	reply, err := t.step(ctx, &postgresv1.TransactionRequest{Step: &postgresv1.TransactionRequest_Query{Query: req}})
	if err != nil {
		return nil, err
	}
	if reply.GetResult() == nil {
		return nil, newError(CodeInternal, "the sidecar answered a query with %T", reply.GetStep())
	}
	return queryRows(reply.GetResult())
}

// Exec runs one statement inside the transaction for its effect.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (CommandResult, error) {
	rows, err := t.Query(ctx, sql, args...)
	if err != nil {
		return CommandResult{}, err
	}
	return CommandResult{RowsAffected: rows.RowsAffected, CommandTag: rows.CommandTag}, nil
}

// Commit commits the transaction and ends it. CodeAborted (a
// serialization failure, a deadlock) means: run the whole transaction
// again.
func (t *Tx) Commit(ctx context.Context) error {
	if t.stream == nil {
		_, err := unary[postgresv1.CommitResponse](t.p.c, ctx, postgresv1connect.PostgresServiceCommitProcedure, &postgresv1.CommitRequest{TransactionId: t.id})
		return err
	}
	return t.end(ctx, &postgresv1.TransactionRequest{Step: &postgresv1.TransactionRequest_Commit{Commit: &postgresv1.CommitRequest{}}})
}

// Rollback rolls the transaction back and ends it. Rolling back a
// transaction that has ended is not an error.
func (t *Tx) Rollback(ctx context.Context) error {
	if t.stream == nil {
		_, err := unary[postgresv1.RollbackResponse](t.p.c, ctx, postgresv1connect.PostgresServiceRollbackProcedure, &postgresv1.RollbackRequest{TransactionId: t.id})
		return err
	}
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	if done {
		return nil
	}
	return t.end(ctx, &postgresv1.TransactionRequest{Step: &postgresv1.TransactionRequest_Rollback{Rollback: &postgresv1.RollbackRequest{}}})
}

func (t *Tx) end(ctx context.Context, req *postgresv1.TransactionRequest) error {
	_, err := t.step(ctx, req)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.done = true
		_ = t.stream.CloseRequest()
		_ = t.stream.CloseResponse()
		t.cancel()
	}
	return err
}

// Transaction runs fn in a transaction (from Begin): commits if fn
// returns nil, rolls back and returns fn's error otherwise. ctx bounds
// Begin, Commit and Rollback each; pass it on to the statements in fn.
func (p *PostgresClient) Transaction(ctx context.Context, o TxOptions, fn func(*Tx) error) error {
	tx, err := p.Begin(ctx, o)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.rollbackQuietly()
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		// If the commit never arrived, free the transaction now; if it
		// ended already, rolling back does nothing.
		tx.rollbackQuietly()
		return err
	}
	return nil
}

// rollbackQuietly is best effort: its failure must not hide the error
// that caused it (the sidecar rolls back on its own after the idle
// timeout).
func (t *Tx) rollbackQuietly() {
	_ = t.Rollback(context.Background())
}

//! The Postgres ambassador end to end: the sidecar in-process, a real
//! PostgreSQL per test (testing/postgres/), and `psql` as the independent
//! client that writes behind attache's back and reads results back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use attache_proto::attache::postgres::v1::__buffa::oneof::transaction_request::Step as In;
use attache_proto::attache::postgres::v1::__buffa::oneof::transaction_response::Step as Out;
use attache_proto::attache::postgres::v1::__buffa::oneof::value::Kind;
use attache_proto::attache::postgres::v1::{
    BeginRequest, CommitRequest, ConflictAction, ExecuteRequest, GetOrLoadRequest, InsertRequest, Isolation,
    OnConflict, Param, PostgresServiceClient, QueryOptions, QueryRequest, QueryResponse, RollbackRequest, Statement,
    TransactionRequest, Value,
};
use attache_proto::attache::redis::v1::DoRequest;
use attache_proto::attache::sidecar::v1::ErrorInfo;
use attache_test::{PostgresServer, Sidecar};
use base64::Engine as _;
use connectrpc::client::SharedHttp2Connection;
use connectrpc::{ConnectError, ErrorCode, Protocol};

type Client = PostgresServiceClient<SharedHttp2Connection>;

async fn start(pg: &PostgresServer, configure: impl FnOnce(&mut attache_config::Config)) -> (Sidecar, Client) {
    let url = pg.url().to_owned();
    let sidecar = Sidecar::start_with(|c| {
        c.postgres.url = Some(url);
        configure(c);
    })
    .await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    (sidecar, client)
}

fn text(s: &str) -> Param {
    Param { value: Value { kind: Some(Kind::Text(s.into())), ..Default::default() }.into(), ..Default::default() }
}

fn int(n: i64) -> Param {
    Param { value: Value { kind: Some(Kind::Int(n)), ..Default::default() }.into(), ..Default::default() }
}

async fn query(client: &Client, sql: &str, params: Vec<Param>) -> Result<QueryResponse, ConnectError> {
    Ok(client.query(QueryRequest { sql: sql.into(), params, ..Default::default() }).await?.into_owned())
}

async fn in_tx(client: &Client, tx: &str, sql: &str) -> Result<QueryResponse, ConnectError> {
    let request = QueryRequest { sql: sql.into(), transaction_id: tx.into(), ..Default::default() };
    Ok(client.query(request).await?.into_owned())
}

/// The only row's values, by column name.
fn row(reply: &QueryResponse) -> HashMap<String, Kind> {
    assert_eq!(reply.rows.len(), 1, "{reply:?}");
    reply.columns.iter().zip(&reply.rows[0].values).map(|(c, v)| (c.name.clone(), v.kind.clone().unwrap())).collect()
}

/// The ErrorInfo detail of an error, decoded from its protobuf bytes.
fn info(error: &ConnectError) -> ErrorInfo {
    let detail = error.details.iter().find(|d| d.type_url.ends_with("attache.sidecar.v1.ErrorInfo"));
    let detail = detail.unwrap_or_else(|| panic!("an ErrorInfo detail: {error:?}"));
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(detail.value.as_deref().unwrap().trim_end_matches('='))
        .unwrap();
    <ErrorInfo as buffa::Message>::decode_from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn values_round_trip_by_wire_representation_over_every_protocol() {
    let pg = PostgresServer::start();
    let (sidecar, _) = start(&pg, |_| {}).await;
    let sql = "select 9007199254740993::int8 as big, (-2147483648)::int4 as i4, 123456789012345678901234.567890::numeric as num, \
               'NaN'::float8 as nan, 'infinity'::timestamptz as inf, '-infinity'::date as neg_date, \
               '2024-02-29 12:34:56.789012+00'::timestamptz as ts, '1999-12-31'::date as d, '12:00:01.5'::time as t, \
               '1 year 2 days 3 microseconds'::interval as iv, '\\x00ff'::bytea as b, \
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, '{\"a\": [1, 2]}'::jsonb as j, \
               array[[1, 2], [3, null]]::int[] as arr, row(1, 'x')::record as rec, null::text as n, \
               '192.168.0.1/24'::inet as addr, true as yes, 'héllo'::text as txt";
    for protocol in [Protocol::Grpc, Protocol::Connect, Protocol::GrpcWeb] {
        let client = sidecar.postgres(protocol).await;
        let reply = query(&client, sql, vec![]).await.unwrap();
        assert_eq!(reply.command_tag, "SELECT 1");
        let v = row(&reply);
        assert_eq!(v["big"], Kind::Int(9_007_199_254_740_993));
        assert_eq!(v["i4"], Kind::Int(-2_147_483_648));
        assert_eq!(v["num"], Kind::Numeric("123456789012345678901234.567890".into()));
        assert!(matches!(v["nan"], Kind::Float(f) if f.is_nan()));
        let Kind::Timestamptz(inf) = &v["inf"] else { panic!("{:?}", v["inf"]) };
        assert_eq!(inf.infinity.to_i32(), 1);
        let Kind::Date(neg) = &v["neg_date"] else { panic!() };
        assert_eq!(neg.infinity.to_i32(), 2);
        let Kind::Timestamptz(ts) = &v["ts"] else { panic!() };
        assert_eq!(ts.micros, 1_709_210_096_789_012);
        let Kind::Date(d) = &v["d"] else { panic!() };
        assert_eq!(d.days, 10_956);
        assert_eq!(v["t"], Kind::Time(43_201_500_000));
        let Kind::Interval(iv) = &v["iv"] else { panic!() };
        assert_eq!((iv.months, iv.days, iv.micros), (12, 2, 3));
        assert_eq!(v["b"], Kind::Bytes(vec![0, 255]));
        assert_eq!(v["u"], Kind::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()));
        assert_eq!(v["j"], Kind::Json(r#"{"a": [1, 2]}"#.into()));
        let Kind::Array(arr) = &v["arr"] else { panic!() };
        assert_eq!(arr.dimensions.iter().map(|d| (d.length, d.lower_bound)).collect::<Vec<_>>(), vec![(2, 1), (2, 1)]);
        let elements: Vec<_> = arr.elements.iter().map(|e| e.kind.clone().unwrap()).collect();
        assert_eq!(elements, vec![Kind::Int(1), Kind::Int(2), Kind::Int(3), Kind::Null(true)]);
        let Kind::Record(rec) = &v["rec"] else { panic!() };
        assert_eq!(rec.fields[1].value.as_option().unwrap().kind, Some(Kind::Text("x".into())));
        assert_eq!(v["n"], Kind::Null(true));
        let Kind::Typed(addr) = &v["addr"] else { panic!("{:?}", v["addr"]) };
        assert_eq!((addr.type_name.as_str(), addr.text.as_str()), ("inet", "192.168.0.1/24"));
        assert_eq!(v["yes"], Kind::Bool(true));
        assert_eq!(v["txt"], Kind::Text("héllo".into()));
    }
}

#[tokio::test]
async fn parameters_are_inferred_or_hinted_and_writes_are_seen_by_psql() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!(
        "create table {schema}.t (id int8 primary key, name text, score numeric, at timestamptz, tags text[])"
    ));
    let (_sidecar, client) = start(&pg, |_| {}).await;
    let array = Param {
        value: Value {
            kind: Some(Kind::Array(Box::new(attache_proto::attache::postgres::v1::Array {
                elements: vec![text("a,b").value.unwrap(), text("c\"d").value.unwrap()],
                ..Default::default()
            }))),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    let numeric = Param {
        value: Value { kind: Some(Kind::Numeric("1.000000000000000000000000000001".into())), ..Default::default() }
            .into(),
        ..Default::default()
    };
    let reply = query(
        &client,
        &format!("insert into {schema}.t values ($1, $2, $3, $4, $5) returning id"),
        vec![int(i64::MAX), text("o'brien"), numeric, text("2024-01-01T00:00:00Z"), array],
    )
    .await
    .unwrap();
    assert_eq!((reply.rows_affected, reply.command_tag.as_str()), (1, "INSERT 0 1"));
    assert_eq!(row(&reply)["id"], Kind::Int(i64::MAX));
    assert_eq!(
        pg.psql(&format!("select id, name, score, tags[2] from {schema}.t")),
        "9223372036854775807|o'brien|1.000000000000000000000000000001|c\"d"
    );
    // A type hint where the server cannot infer one.
    let hinted = Param { r#type: "int8".into(), ..text("42") };
    let reply = query(&client, "select $1 as n", vec![hinted]).await.unwrap();
    assert_eq!(row(&reply)["n"], Kind::Int(42));
    let wrong = query(&client, "select $1::int", vec![]).await.unwrap_err();
    assert_eq!(wrong.code, ErrorCode::InvalidArgument);
    assert!(wrong.message.as_deref().unwrap().contains("1 parameter(s) but 0 were given"), "{wrong:?}");
}

#[tokio::test]
async fn errors_carry_their_code_and_what_postgres_said() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!("create table {schema}.u (email text constraint u_email_key unique, n int not null default 0)"));
    pg.psql(&format!("insert into {schema}.u (email) values ('a@x')"));
    let (sidecar, client) = start(&pg, |_| {}).await;

    let syntax = query(&client, "selec 1", vec![]).await.unwrap_err();
    assert_eq!(syntax.code, ErrorCode::InvalidArgument);
    let detail = info(&syntax);
    assert_eq!((detail.reason.as_str(), detail.domain.as_str()), ("42601", "postgres"));
    assert_eq!(detail.metadata.get("position").map(String::as_str), Some("1"));

    let missing = query(&client, "select * from no_such_table", vec![]).await.unwrap_err();
    assert_eq!((missing.code, info(&missing).reason), (ErrorCode::InvalidArgument, "42P01".to_owned()));

    let duplicate = query(&client, &format!("insert into {schema}.u (email) values ($1)"), vec![text("a@x")]).await;
    let duplicate = duplicate.unwrap_err();
    assert_eq!(duplicate.code, ErrorCode::AlreadyExists);
    let detail = info(&duplicate);
    assert_eq!(detail.metadata.get("constraint").map(String::as_str), Some("u_email_key"));
    assert_eq!(detail.metadata.get("table").map(String::as_str), Some("u"));
    assert!(detail.metadata.get("detail").unwrap().contains("already exists"), "{detail:?}");

    let not_null = query(&client, &format!("insert into {schema}.u (email, n) values ('b', null)"), vec![]).await;
    let not_null = not_null.unwrap_err();
    assert_eq!((not_null.code, info(&not_null).reason), (ErrorCode::FailedPrecondition, "23502".to_owned()));

    // The same facts reach a Connect JSON client in the detail's debug form.
    let (status, body) = attache_test::connect_json(
        sidecar.socket(),
        "attache.postgres.v1.PostgresService/Query",
        &format!(r#"{{"sql": "insert into {schema}.u (email) values ('a@x')"}}"#),
        &[],
    )
    .await;
    assert_eq!(status.as_u16(), 409, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], "already_exists");
    assert_eq!(json["details"][0]["debug"]["metadata"]["constraint"], "u_email_key");
    assert_eq!(json["details"][0]["debug"]["reason"], "23505");

    // Nothing was written by the failed statements.
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.u")), "1");
}

#[tokio::test]
async fn session_state_never_reaches_the_next_caller() {
    let pg = PostgresServer::start();
    // One connection, so every call below reuses the same session.
    let (_sidecar, client) = start(&pg, |c| c.postgres.pool_size = 1).await;
    for sql in ["set work_mem = '64MB'", "listen ch", "begin", "prepare p as select 1", "select pg_advisory_lock(7)"] {
        let refused = query(&client, sql, vec![]).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::FailedPrecondition, "{sql}: {refused:?}");
    }
    let default = row(&query(&client, "show work_mem", vec![]).await.unwrap())["work_mem"].clone();
    // Inside a transaction a session SET is allowed, and undone at its end.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, "set work_mem = '64MB'").await.unwrap();
    in_tx(&client, &tx, "select pg_advisory_lock(7)").await.unwrap();
    in_tx(&client, &tx, "create temp table scratch (a int)").await.unwrap();
    client.commit(CommitRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
    assert_eq!(row(&query(&client, "show work_mem", vec![]).await.unwrap())["work_mem"], default);
    assert_eq!(pg.psql("select count(*) from pg_locks where locktype = 'advisory'"), "0");
    let gone = query(&client, "select * from scratch", vec![]).await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::InvalidArgument);
}

/// Polls `sql` (one count) through psql until it reads "0".
async fn until_zero(pg: &PostgresServer, sql: &str, what: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    while pg.psql(sql) != "0" {
        assert!(Instant::now() < until, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_transaction_stream_over_http1_left_mid_statement_cancels_it_and_rolls_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pg = PostgresServer::start();
    let (sidecar, _) = start(&pg, |_| {}).await;
    // A Connect bidi stream over HTTP/1.1: JSON envelopes in a chunked
    // body, as the PHP and Python SDKs send them.
    let chunk = |json: &str| {
        let mut envelope = vec![0u8];
        envelope.extend_from_slice(&(json.len() as u32).to_be_bytes());
        envelope.extend_from_slice(json.as_bytes());
        let mut out = format!("{:x}\r\n", envelope.len()).into_bytes();
        out.extend_from_slice(&envelope);
        out.extend_from_slice(b"\r\n");
        out
    };
    let mut stream = tokio::net::UnixStream::connect(sidecar.socket()).await.unwrap();
    stream
        .write_all(
            b"POST /attache.postgres.v1.PostgresService/Transaction HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/connect+json\r\nConnect-Protocol-Version: 1\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    stream.write_all(&chunk(r#"{"begin":{}}"#)).await.unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("begun") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the transaction began: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    stream.write_all(&chunk(r#"{"query":{"sql":"select pg_sleep(30)"}}"#)).await.unwrap();
    let running = "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'";
    let until = Instant::now() + Duration::from_secs(5);
    while pg.psql(running) != "1" {
        assert!(Instant::now() < until, "the statement never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The caller goes away mid-statement.
    drop(stream);
    until_zero(&pg, running, "the statement still runs after its caller left").await;
    until_zero(
        &pg,
        "select count(*) from pg_stat_activity where state like 'idle in transaction%'",
        "the transaction is still open after its caller left",
    )
    .await;
}

#[tokio::test]
async fn a_deadline_cancels_the_statement_on_the_server() {
    let pg = PostgresServer::start();
    let (sidecar, _) = start(&pg, |_| {}).await;
    let client = sidecar.postgres(Protocol::Connect).await;
    let started = Instant::now();
    let request = QueryRequest { sql: "select pg_sleep(30)".into(), ..Default::default() };
    let late = client
        .query_with_options(
            request,
            connectrpc::client::CallOptions::default().with_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::DeadlineExceeded, "{late:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let running =
            pg.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'");
        if running == "0" {
            break;
        }
        assert!(Instant::now() < until, "the statement still runs on the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The pool still serves.
    assert_eq!(row(&query(&client, "select 1 as one", vec![]).await.unwrap())["one"], Kind::Int(1));
}

#[tokio::test]
async fn transactions_commit_roll_back_time_out_and_belong_to_their_caller() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!("create table {schema}.t (a int)"));
    let (sidecar, client) = start(&pg, |c| {
        c.server.tcp = Some("127.0.0.1:0".parse().unwrap());
        c.postgres.transaction.idle_timeout = Duration::from_millis(300);
    })
    .await;

    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (1)")).await.unwrap();
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "0", "not visible before commit");
    // Another caller (here: over TCP, another peer) cannot use the id.
    let request = http::Request::post("http://127.0.0.1/attache.postgres.v1.PostgresService/Query")
        .header("content-type", "application/json")
        .header("host", sidecar.tcp_addr().unwrap().to_string())
        .body(http_body_util::Full::new(bytes::Bytes::from(format!(
            r#"{{"sql": "select 1", "transactionId": "{tx}"}}"#
        ))))
        .unwrap();
    let (status, _, body) = attache_test::http1_tcp(sidecar.tcp_addr().unwrap(), request).await;
    assert_eq!(status.as_u16(), 404, "{}", String::from_utf8_lossy(&body));
    client.commit(CommitRequest { transaction_id: tx.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "1");
    let ended = in_tx(&client, &tx, "select 1").await.unwrap_err();
    assert_eq!(ended.code, ErrorCode::NotFound);

    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (2)")).await.unwrap();
    client.rollback(RollbackRequest { transaction_id: tx.clone(), ..Default::default() }).await.unwrap();
    client.rollback(RollbackRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "1");

    // A failed statement makes Commit say the transaction was rolled back.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (3)")).await.unwrap();
    in_tx(&client, &tx, "select 1/0").await.unwrap_err();
    let commit = client.commit(CommitRequest { transaction_id: tx, ..Default::default() }).await.unwrap_err();
    assert_eq!(commit.code, ErrorCode::FailedPrecondition);
    assert!(commit.message.unwrap().contains("rolled back, not committed"));
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "1");

    // A statement cut short by its deadline is cancelled; Postgres aborts
    // the transaction, and Commit says so rather than report success.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (5)")).await.unwrap();
    let slow = QueryRequest { sql: "select pg_sleep(10)".into(), transaction_id: tx.clone(), ..Default::default() };
    let options = connectrpc::client::CallOptions::default().with_timeout(Duration::from_millis(200));
    assert_eq!(client.query_with_options(slow, options).await.unwrap_err().code, ErrorCode::DeadlineExceeded);
    let commit = client.commit(CommitRequest { transaction_id: tx, ..Default::default() }).await.unwrap_err();
    assert!(commit.message.unwrap().contains("rolled back, not committed"));
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "1");

    // An idle transaction is rolled back by its watchdog.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (4)")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(in_tx(&client, &tx, "select 1").await.unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(pg.psql("select count(*) from pg_stat_activity where state = 'idle in transaction'"), "0");
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "1");
}

#[tokio::test]
async fn execute_is_all_or_nothing_when_transactional() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!("create table {schema}.t (a int primary key)"));
    let (_sidecar, client) = start(&pg, |_| {}).await;
    let statement = |sql: String| Statement { sql, ..Default::default() };
    let request = ExecuteRequest {
        statements: vec![
            statement(format!("insert into {schema}.t values (1)")),
            statement(format!("insert into {schema}.t values (1)")),
        ],
        transactional: true,
        ..Default::default()
    };
    let failed = client.execute(request.clone()).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::AlreadyExists);
    assert_eq!(info(&failed).metadata.get("statement").map(String::as_str), Some("2"));
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "0");
    let ok = ExecuteRequest {
        statements: vec![
            statement(format!("insert into {schema}.t values (1)")),
            statement(format!("select count(*) as n from {schema}.t")),
        ],
        transactional: true,
        ..Default::default()
    };
    let results = client.execute(ok).await.unwrap().into_owned().results;
    assert_eq!(row(&results[1])["n"], Kind::Int(1));
}

#[tokio::test]
async fn a_full_pool_and_a_database_that_goes_away_fail_fast_then_recover() {
    let pg = PostgresServer::start();
    let (_sidecar, client) = start(&pg, |c| {
        c.postgres.pool_size = 1;
        c.postgres.transaction.max_open = 1;
    })
    .await;
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    let second = client.begin(BeginRequest::default()).await.unwrap_err();
    assert_eq!(second.code, ErrorCode::ResourceExhausted);
    let request = QueryRequest { sql: "select 1".into(), ..Default::default() };
    let options = connectrpc::client::CallOptions::default().with_timeout(Duration::from_millis(300));
    let waited = client.query_with_options(request, options).await.unwrap_err();
    assert_eq!(waited.code, ErrorCode::ResourceExhausted, "{waited:?}");
    client.rollback(RollbackRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
    // The refused Begin freed its slot: one can begin again.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    client.rollback(RollbackRequest { transaction_id: tx, ..Default::default() }).await.unwrap();

    pg.stop();
    let started = Instant::now();
    let down = query(&client, "select 1", vec![]).await.unwrap_err();
    assert_eq!(down.code, ErrorCode::Unavailable, "{down:?}");
    assert!(!down.message.as_deref().unwrap().contains("password"));
    let again = query(&client, "select 1", vec![]).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(2), "fails fast while down");
    pg.restart();
    let until = Instant::now() + Duration::from_secs(10);
    while query(&client, "select 1", vec![]).await.is_err() {
        assert!(Instant::now() < until, "attache never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn stopping_the_sidecar_rolls_back_open_transactions() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!("create table {schema}.t (a int)"));
    let (sidecar, client) = start(&pg, |_| {}).await;
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("insert into {schema}.t values (1)")).await.unwrap();
    drop(client);
    sidecar.stop().await.unwrap();
    assert_eq!(pg.psql(&format!("select count(*) from {schema}.t")), "0");
    assert_eq!(pg.psql("select count(*) from pg_stat_activity where application_name = 'attache'"), "0");
}

#[tokio::test]
async fn without_a_url_the_module_says_how_to_configure_it() {
    let sidecar = Sidecar::start().await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    let error = query(&client, "select 1", vec![]).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::FailedPrecondition);
    assert!(error.message.unwrap().contains("ATTACHE_POSTGRES_URL"));
}

#[tokio::test]
async fn identical_concurrent_reads_run_once_and_volatile_ones_never_share() {
    let pg = PostgresServer::start();
    let schema = pg.schema();
    pg.psql(&format!("create sequence {schema}.s"));
    let (sidecar, _) = start(&pg, |_| {}).await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    pg.psql("select pg_stat_statements_reset()");
    // Slow enough (~0.3 s) for all 100 callers to arrive while it runs.
    let slow = "select count(*) as n from generate_series(1, 4000000)";
    let calls = (0..100).map(|_| query(&client, slow, vec![]));
    let replies = futures::future::join_all(calls).await;
    let mut coalesced = 0;
    for reply in replies {
        let reply = reply.unwrap();
        assert_eq!(row(&reply)["n"], Kind::Int(4_000_000));
        let status = reply.cache.as_option().unwrap().status.to_i32();
        assert!(status == 2 || status == 3, "miss or coalesced: {status}");
        coalesced += usize::from(status == 3);
    }
    let runs: u64 = pg
        .psql("select coalesce(sum(calls), 0) from pg_stat_statements where query like 'select count(*) as n from generate_series%'")
        .parse()
        .unwrap();
    assert!(runs <= 2, "100 identical reads ran {runs} times on the server");
    assert!(coalesced >= 98, "{coalesced} of 100 shared a result");

    // nextval is volatile: concurrent identical calls each get their own value.
    let next = format!("select nextval('{schema}.s') as v");
    let calls = (0..20).map(|_| query(&client, &next, vec![]));
    let mut values = Vec::new();
    for reply in futures::future::join_all(calls).await {
        let reply = reply.unwrap();
        let cache = reply.cache.as_option().unwrap();
        assert_eq!(cache.status.to_i32(), 1, "bypass");
        assert!(cache.reason.contains("volatile"), "{}", cache.reason);
        values.push(row(&reply)["v"].clone());
    }
    values.sort_by_key(|v| format!("{v:?}"));
    values.dedup();
    assert_eq!(values.len(), 20, "every caller got its own nextval");

    // A write is never shared.
    let write = query(&client, &format!("select setval('{schema}.s', 1)"), vec![]).await.unwrap();
    assert_eq!(write.cache.as_option().unwrap().status.to_i32(), 1);
}

#[tokio::test]
async fn tls_follows_sslmode_and_names_what_to_fix() {
    let ca = attache_test::Ca::new();
    let pg = PostgresServer::start_tls(&ca);
    let encrypted = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";

    // verify-full against the test CA: encrypted and verified.
    let ca_file = ca.cert();
    let url = format!("{}?sslmode=verify-full", pg.tcp_url());
    let sidecar = Sidecar::start_with(|c| {
        c.postgres.url = Some(url);
        c.postgres.tls.ca_file = Some(ca_file);
    })
    .await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    assert_eq!(row(&query(&client, encrypted, vec![]).await.unwrap())["ssl"], Kind::Bool(true));
    // A deadline still cancels the statement over TLS.
    let request = QueryRequest { sql: "select pg_sleep(30)".into(), ..Default::default() };
    let options = connectrpc::client::CallOptions::default().with_timeout(Duration::from_millis(300));
    assert_eq!(client.query_with_options(request, options).await.unwrap_err().code, ErrorCode::DeadlineExceeded);
    let until = Instant::now() + Duration::from_secs(5);
    while pg.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")
        != "0"
    {
        assert!(Instant::now() < until, "the statement still runs on the server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sidecar.stop().await.unwrap();

    // verify-full trusting only the system store: refused, naming the setting.
    let url = format!("{}?sslmode=verify-full", pg.tcp_url());
    let sidecar = Sidecar::start_with(|c| c.postgres.url = Some(url)).await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    let refused = query(&client, "select 1", vec![]).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unavailable, "{refused:?}");
    assert!(refused.message.as_deref().unwrap().contains("postgres.tls.ca_file"), "{refused:?}");
    sidecar.stop().await.unwrap();

    // require: encrypted without verification; disable: plain.
    for (mode, ssl) in [("require", true), ("disable", false)] {
        let url = format!("{}?sslmode={mode}", pg.tcp_url());
        let sidecar = Sidecar::start_with(|c| c.postgres.url = Some(url)).await;
        let client = sidecar.postgres(Protocol::Grpc).await;
        assert_eq!(row(&query(&client, encrypted, vec![]).await.unwrap())["ssl"], Kind::Bool(ssl), "{mode}");
        sidecar.stop().await.unwrap();
    }
}

const HIT: i32 = 4;
const MISS: i32 = 2;
const BYPASS: i32 = 1;

/// A read asking to be cached for `ttl_ms`: its reply, its cache status,
/// and the cache's reason.
async fn cached(client: &Client, sql: &str, params: Vec<Param>, ttl_ms: u64) -> (QueryResponse, i32, String) {
    let options = QueryOptions { cache_ttl_ms: ttl_ms, ..Default::default() };
    let request = QueryRequest { sql: sql.into(), params, options: options.into(), ..Default::default() };
    let reply = client.query(request).await.unwrap().into_owned();
    let cache = reply.cache.as_option().unwrap().clone();
    (reply, cache.status.to_i32(), cache.reason)
}

/// The first column of the only row, as text.
fn first(reply: &QueryResponse) -> String {
    match reply.rows[0].values[0].kind.clone().unwrap() {
        Kind::Text(s) => s,
        Kind::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn cached_reads_are_answered_until_a_write_through_attache_touches_what_they_read() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!(
        "create table {s}.users (id int primary key, name text);
         create table {s}.other (id int primary key);
         create view {s}.names as select u.name from {s}.users u;
         create table {s}.orders (id int primary key, user_id int references {s}.users on delete cascade);
         insert into {s}.users values (1, 'ann'), (2, 'bob'); insert into {s}.orders values (10, 1)"
    ));
    let (sidecar, client) = start(&pg, |_| {}).await;
    let by_id = format!("select name from {s}.users where id = $1");
    let (reply, status, reason) = cached(&client, &by_id, vec![int(1)], 60_000).await;
    assert_eq!((first(&reply).as_str(), status, reason.as_str()), ("ann", MISS, ""));
    let (reply, status, _) = cached(&client, &by_id, vec![int(1)], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("ann", HIT));
    // Other parameters are another entry; a view is tracked to its table.
    assert_eq!(cached(&client, &by_id, vec![int(2)], 60_000).await.1, MISS);
    let view = format!("select count(*) from {s}.names");
    assert_eq!(cached(&client, &view, vec![], 60_000).await.1, MISS);
    let other = format!("select count(*) from {s}.other");
    let (_, status, reason) = cached(&client, &other, vec![], 60_000).await;
    assert_eq!((status, reason.as_str()), (MISS, ""));
    let children = format!("select count(*) from {s}.orders");
    assert_eq!(cached(&client, &children, vec![], 60_000).await.1, MISS);

    // A write through attache: the next read, sent after its reply, sees it.
    query(&client, &format!("update {s}.users set name = 'anne' where id = $1"), vec![int(1)]).await.unwrap();
    let (reply, status, _) = cached(&client, &by_id, vec![int(1)], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("anne", MISS));
    assert_eq!(cached(&client, &view, vec![], 60_000).await.1, MISS, "the view reads users");
    let (_, status, reason) = cached(&client, &other, vec![], 60_000).await;
    assert_eq!(status, HIT, "other was not touched: {reason}");

    // Deleting a user cascades to orders: that cached count goes too. (Any
    // write to users drops what reads orders: attache cannot tell which
    // columns a statement changed.)
    assert_eq!(cached(&client, &children, vec![], 60_000).await.1, MISS);
    assert_eq!(cached(&client, &children, vec![], 60_000).await.1, HIT);
    query(&client, &format!("delete from {s}.users where id = 1"), vec![]).await.unwrap();
    let (reply, status, _) = cached(&client, &children, vec![], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("0", MISS));

    // In a transaction: invalidated at commit, not before.
    assert_eq!(cached(&client, &by_id, vec![int(2)], 60_000).await.1, MISS);
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("update {s}.users set name = 'rob' where id = 2")).await.unwrap();
    let (reply, status, _) = cached(&client, &by_id, vec![int(2)], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("bob", HIT), "uncommitted: the old row is still right");
    client.commit(CommitRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
    let (reply, status, _) = cached(&client, &by_id, vec![int(2)], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("rob", MISS));

    // Execute, and DDL attache cannot analyse (everything goes).
    let statements =
        vec![Statement { sql: format!("update {s}.users set name = 'bo' where id = 2"), ..Default::default() }];
    client.execute(ExecuteRequest { statements, ..Default::default() }).await.unwrap();
    assert_eq!(first(&cached(&client, &by_id, vec![int(2)], 60_000).await.0), "bo");
    assert_eq!(cached(&client, &by_id, vec![int(2)], 60_000).await.1, HIT);
    // Not transactional, a failing statement leaves the ones before it
    // committed: their writes still invalidate.
    let statements = vec![
        Statement { sql: format!("update {s}.users set name = 'b' where id = 2"), ..Default::default() },
        Statement { sql: format!("insert into {s}.users values (2, 'dup')"), ..Default::default() },
    ];
    let failed = client.execute(ExecuteRequest { statements, ..Default::default() }).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::AlreadyExists);
    assert_eq!(first(&cached(&client, &by_id, vec![int(2)], 60_000).await.0), "b");
    assert_eq!(cached(&client, &other, vec![], 60_000).await.1, HIT);
    query(&client, &format!("alter table {s}.other add column x int"), vec![]).await.unwrap();
    assert_eq!(cached(&client, &other, vec![], 60_000).await.1, MISS);

    assert_eq!(cached(&client, &by_id, vec![int(2)], 400).await.1, MISS, "DDL empties the whole cache");

    // A write behind attache's back is seen when the entry expires.
    assert_eq!(cached(&client, &by_id, vec![int(2)], 400).await.1, HIT);
    pg.psql(&format!("update {s}.users set name = 'robert' where id = 2"));
    let (reply, status, _) = cached(&client, &by_id, vec![int(2)], 400).await;
    assert_eq!((first(&reply).as_str(), status), ("b", HIT), "until the TTL, as documented");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (reply, status, _) = cached(&client, &by_id, vec![int(2)], 400).await;
    assert_eq!((first(&reply).as_str(), status), ("robert", MISS));

    // A transaction that moves search_path writes where its statements'
    // text does not say: its commit drops everything.
    pg.psql(&format!("create schema {s}_t; create table {s}_t.users (id int primary key, name text); insert into {s}_t.users values (1, 'x')"));
    let tenant = format!("select name from {s}_t.users where id = 1");
    assert_eq!(cached(&client, &tenant, vec![], 60_000).await.1, MISS);
    assert_eq!(cached(&client, &tenant, vec![], 60_000).await.1, HIT);
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    in_tx(&client, &tx, &format!("set local search_path = {s}_t")).await.unwrap();
    in_tx(&client, &tx, "update users set name = 'y' where id = 1").await.unwrap();
    client.commit(CommitRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
    let (reply, status, _) = cached(&client, &tenant, vec![], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("y", MISS));

    let metrics = attache_test::admin_get(&sidecar, "/metrics").await;
    let metric = |name: &str| {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name}{{module=\"postgres\"}} ")));
        line.unwrap_or_else(|| panic!("{name}: {metrics}")).rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    assert!(metric("attache_cache_hits_total") >= 7.0);
    assert!(metric("attache_cache_invalidated_total") >= 5.0);
    assert!(metric("attache_cache_entries") >= 1.0 && metric("attache_cache_bytes") > 0.0);
}

#[tokio::test]
async fn reads_attache_cannot_vouch_for_are_not_cached_and_say_why() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!(
        "create table {s}.t (id int primary key, n int); insert into {s}.t values (1, 1);
         create table {s}.audit (at timestamptz);
         create function {s}.n_of(i int) returns int stable language plpgsql as
           $$ begin return (select n from {s}.t where id = i); end $$;
         create function {s}.rows_of() returns setof {s}.t stable language plpgsql as
           $$ begin return query select * from {s}.t; end $$;
         create function {s}.log() returns trigger language plpgsql as
           $$ begin insert into {s}.audit values (now()); return null; end $$;
         create trigger audit after update on {s}.t for each statement execute function {s}.log();
         create view {s}.v_n as select {s}.n_of(id) as n from {s}.t;
         create sequence {s}.seq;
         create view {s}.v_seq as select nextval('{s}.seq') as n"
    ));
    let (_sidecar, client) = start(&pg, |_| {}).await;
    let cases = [
        (format!("select {s}.n_of(1)"), MISS, "user function"),
        (format!("select * from {s}.rows_of()"), MISS, "user function"),
        // Functions hidden in a view are found in its plan.
        (format!("select n from {s}.v_n"), MISS, "n_of"),
        (format!("select n from {s}.v_seq"), MISS, "volatile"),
        ("select random()".to_owned(), BYPASS, "volatile"),
        (format!("select * from {s}.t for update"), BYPASS, "locking"),
    ];
    for (sql, expected, why) in cases {
        for _ in 0..2 {
            let (_, status, reason) = cached(&client, &sql, vec![], 60_000).await;
            assert_eq!(status, expected, "{sql}: {reason}");
            assert!(reason.contains(why), "{sql}: {reason}");
        }
    }
    // A trigger may write where no plan shows: its table's writes flush
    // every cached result.
    let audit = format!("select count(*) from {s}.audit");
    assert_eq!(cached(&client, &audit, vec![], 60_000).await.1, MISS);
    assert_eq!(cached(&client, &audit, vec![], 60_000).await.1, HIT);
    query(&client, &format!("update {s}.t set n = 2"), vec![]).await.unwrap();
    let (reply, status, _) = cached(&client, &audit, vec![], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("1", MISS));
    // Inside a transaction nothing is cached.
    let tx = client.begin(BeginRequest::default()).await.unwrap().into_owned().transaction_id;
    let options = QueryOptions { cache_ttl_ms: 60_000, ..Default::default() };
    let request =
        QueryRequest { sql: audit.clone(), transaction_id: tx.clone(), options: options.into(), ..Default::default() };
    let reply = client.query(request).await.unwrap().into_owned();
    assert_eq!(reply.cache.as_option().unwrap().status.to_i32(), BYPASS);
    client.rollback(RollbackRequest { transaction_id: tx, ..Default::default() }).await.unwrap();
}

#[tokio::test]
async fn a_write_through_another_attache_reaches_this_cache_and_a_lost_channel_empties_it() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!("create table {s}.t (id int primary key, n int); insert into {s}.t values (1, 1)"));
    let (_a, here) = start(&pg, |_| {}).await;
    let (_b, there) = start(&pg, |_| {}).await;
    let read = format!("select n from {s}.t where id = 1");
    assert_eq!(cached(&here, &read, vec![], 60_000).await.1, MISS);
    assert_eq!(cached(&here, &read, vec![], 60_000).await.1, HIT);
    query(&there, &format!("update {s}.t set n = 2 where id = 1"), vec![]).await.unwrap();
    let written = Instant::now();
    loop {
        let (reply, status, _) = cached(&here, &read, vec![], 60_000).await;
        if first(&reply) == "2" {
            assert_eq!(status, MISS);
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(1), "still stale after {:?}", written.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("invalidated across attache processes in {:?}", written.elapsed());

    // The listening connection dies: what was cached goes, and nothing is
    // cached until it is back.
    assert_eq!(cached(&here, &read, vec![], 60_000).await.1, HIT);
    let killed = pg.psql(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'attache cache channel'",
    );
    assert_eq!(killed, "2", "one listener per attache");
    // Until attache notices, a hit is still right (nothing was written);
    // once it has, the entry is gone: the next read that is not refused
    // for the channel goes to the database.
    let until = Instant::now() + Duration::from_secs(10);
    let mut noticed = false;
    loop {
        let (_, status, reason) = cached(&here, &read, vec![], 60_000).await;
        assert!(!(noticed && status == HIT), "a result cached before the channel dropped was served");
        noticed |= status != HIT;
        if status == MISS && reason.is_empty() {
            break;
        }
        if status != HIT {
            assert!(reason.contains("channel"), "{status}: {reason}");
        }
        assert!(Instant::now() < until, "the channel did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cached(&here, &read, vec![], 60_000).await.1, HIT, "caching again once reconnected");
}

fn insert_request(table: &str, columns: &[&str], values: Vec<Param>, returning: &[&str]) -> InsertRequest {
    InsertRequest {
        table: table.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        values,
        returning: returning.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn concurrent_inserts_merge_and_a_bad_row_fails_its_caller_alone() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!(
        "create table {s}.users (id bigserial primary key, email text constraint users_email_key unique, tags text[]);
         insert into {s}.users (email) values ('taken@x')"
    ));
    let (_sidecar, client) = start(&pg, |_| {}).await;
    let table = format!("{s}.users");
    // A cached read of the table, to see inserts invalidate it.
    let count = format!("select count(*) from {s}.users");
    assert_eq!(cached(&client, &count, vec![], 60_000).await.1, MISS);
    pg.psql("select pg_stat_statements_reset()");

    let calls = (0..100)
        .map(|i| client.insert(insert_request(&table, &["email"], vec![text(&format!("u{i}@x"))], &["id", "email"])));
    let replies = futures::future::join_all(calls).await;
    let mut ids = Vec::new();
    let mut largest_batch = 0;
    for (i, reply) in replies.into_iter().enumerate() {
        let reply = reply.unwrap().into_owned();
        assert!(reply.inserted);
        let values: Vec<Kind> = reply.row.as_option().unwrap().values.iter().map(|v| v.kind.clone().unwrap()).collect();
        assert_eq!(values[1], Kind::Text(format!("u{i}@x")), "each caller gets its own row back");
        let Kind::Int(id) = values[0] else { panic!("{values:?}") };
        ids.push(id);
        largest_batch = largest_batch.max(reply.batch_size);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    assert!(largest_batch > 1, "no inserts were merged");
    let statements: u64 = pg
        .psql("select coalesce(sum(calls), 0) from pg_stat_statements where query like 'INSERT INTO%'")
        .parse()
        .unwrap();
    assert!(statements < 100, "100 inserts ran as {statements} statements");
    let (reply, status, _) = cached(&client, &count, vec![], 60_000).await;
    assert_eq!((first(&reply).as_str(), status), ("101", MISS), "the inserts invalidated the cached count");

    // One bad row among concurrent ones fails its caller alone.
    let calls = (0..20).map(|i| {
        let email = if i == 7 { "taken@x".to_owned() } else { format!("v{i}@x") };
        client.insert(insert_request(&table, &["email"], vec![text(&email)], &["email"]))
    });
    for (i, reply) in futures::future::join_all(calls).await.into_iter().enumerate() {
        if i == 7 {
            let error = reply.unwrap_err();
            assert_eq!(error.code, ErrorCode::AlreadyExists, "{error:?}");
            assert_eq!(info(&error).metadata.get("constraint").map(String::as_str), Some("users_email_key"));
        } else {
            let row = reply.unwrap().into_owned().row.into_option().unwrap();
            assert_eq!(row.values[0].kind, Some(Kind::Text(format!("v{i}@x"))));
        }
    }
    assert_eq!(pg.psql(&format!("select count(*) from {s}.users")), "120");

    // ON CONFLICT DO NOTHING: the conflicting caller learns it was skipped.
    let nothing = OnConflict { action: ConflictAction::CONFLICT_ACTION_NOTHING.into(), ..Default::default() };
    let calls = ["taken@x", "new1@x", "new2@x"].map(|email| {
        let mut request = insert_request(&table, &["email"], vec![text(email)], &["email"]);
        request.on_conflict = nothing.clone().into();
        client.insert(request)
    });
    let replies: Vec<_> = futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap().into_owned()).collect();
    assert_eq!(replies.iter().map(|r| r.inserted).collect::<Vec<_>>(), vec![false, true, true]);
    assert!(replies[0].row.as_option().is_none());
    // DO UPDATE; an array column (which cannot go through unnest) works too.
    let update = OnConflict {
        action: ConflictAction::CONFLICT_ACTION_UPDATE.into(),
        target: vec!["email".into()],
        update: vec!["tags".into()],
        ..Default::default()
    };
    let tags = Param { r#type: "text[]".into(), ..text("{a,b}") };
    let mut request = insert_request(&table, &["email", "tags"], vec![text("taken@x"), tags], &["id", "tags"]);
    request.on_conflict = update.into();
    let reply = client.insert(request).await.unwrap().into_owned();
    assert!(reply.inserted);
    assert_eq!(pg.psql(&format!("select tags from {s}.users where email = 'taken@x'")), "{a,b}");

    // A char(2) column keeps both characters; a trigger that swallows one
    // row makes the batch's count wrong, so it is re-run row by row and
    // only that caller hears it was not inserted.
    pg.psql(&format!(
        "create table {s}.places (code char(2), name text);
         create function {s}.swallow() returns trigger language plpgsql as
           $$ begin if new.name = 'swallowed' then return null; end if; return new; end $$;
         create trigger swallow before insert on {s}.places for each row execute function {s}.swallow()"
    ));
    let places = format!("{s}.places");
    let calls = ["US", "FR", "DE", "NL"].map(|code| {
        let name = if code == "DE" { "swallowed" } else { code };
        client.insert(insert_request(&places, &["code", "name"], vec![text(code), text(name)], &["code"]))
    });
    let replies: Vec<_> = futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap().into_owned()).collect();
    assert_eq!(replies.iter().map(|r| r.inserted).collect::<Vec<_>>(), vec![true, true, false, true]);
    assert_eq!(pg.psql(&format!("select string_agg(code, ',' order by code) from {s}.places")), "FR,NL,US");

    // Bad input names what is wrong.
    for (request, code, fragment) in [
        (insert_request(&table, &["nope"], vec![text("x")], &[]), ErrorCode::InvalidArgument, "no column \"nope\""),
        (insert_request(&table, &["email"], vec![], &[]), ErrorCode::InvalidArgument, "1 columns but 0 values"),
        (insert_request("no_such_table", &["a"], vec![text("x")], &[]), ErrorCode::InvalidArgument, "no_such_table"),
        (insert_request(&table, &[], vec![], &[]), ErrorCode::InvalidArgument, "at least one column"),
    ] {
        let error = client.insert(request).await.unwrap_err();
        assert_eq!(error.code, code, "{error:?}");
        assert!(error.message.as_deref().unwrap_or("").contains(fragment), "{error:?}");
    }
}

#[tokio::test]
async fn get_or_load_keeps_a_result_in_redis_until_a_write_deletes_it() {
    let pg = PostgresServer::start();
    let redis = attache_test::RedisServer::start();
    let s = pg.schema();
    pg.psql(&format!(
        "create table {s}.items (id int primary key, name text); insert into {s}.items values (1, 'pen')"
    ));
    let url = redis.url().to_owned();
    let (a, here) = start(&pg, |c| c.redis.url = Some(url.clone())).await;
    let (b, there) = start(&pg, |c| c.redis.url = Some(url.clone())).await;
    // Redis connects in the background: wait for both.
    for sidecar in [&a, &b] {
        let redis = sidecar.redis(Protocol::Grpc).await;
        let until = Instant::now() + Duration::from_secs(10);
        let ping = || DoRequest { args: vec![b"PING".to_vec()], ..Default::default() };
        while redis.r#do(ping()).await.is_err() {
            assert!(Instant::now() < until, "attache never connected to redis");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let load = |client: &Client| {
        let request = GetOrLoadRequest {
            key: "item:1".into(),
            sql: format!("select name from {s}.items where id = $1"),
            params: vec![int(1)],
            ttl_ms: 60_000,
            ..Default::default()
        };
        let client = client.clone();
        async move {
            let reply = client.get_or_load(request).await.unwrap().into_owned();
            let status = reply.cache.as_option().unwrap().status.to_i32();
            let name = match reply.rows[0].values[0].kind.clone().unwrap() {
                Kind::Text(name) => name,
                other => panic!("{other:?}"),
            };
            (name, status)
        }
    };
    pg.psql("select pg_stat_statements_reset()");
    let first_loads = futures::future::join_all((0..20).map(|_| load(&here))).await;
    assert!(first_loads.iter().all(|(name, _)| name == "pen"));
    let runs: u64 = pg
        .psql("select coalesce(sum(calls), 0) from pg_stat_statements where query like 'select name from%'")
        .parse()
        .unwrap();
    assert!(runs <= 2, "20 concurrent loads ran the query {runs} times");
    assert_eq!(load(&here).await, ("pen".into(), HIT));
    assert_eq!(redis.cli(&["exists", "item:1"]), "1");
    // Another attache reads the same key from Redis.
    assert_eq!(load(&there).await, ("pen".into(), HIT));

    // A write through attache moves the table's generation in Redis before
    // its reply: the stored result stops being a hit.
    query(&here, &format!("update {s}.items set name = 'ink' where id = 1"), vec![]).await.unwrap();
    assert_eq!(redis.cli(&["exists", "item:1"]), "1", "the key stays; its generations moved");
    assert_eq!(load(&here).await, ("ink".into(), MISS));
    assert_eq!(load(&here).await, ("ink".into(), HIT));

    // A write through another attache: the very next load here sees it.
    query(&there, &format!("update {s}.items set name = 'cap' where id = 1"), vec![]).await.unwrap();
    assert_eq!(load(&here).await, ("cap".into(), MISS));
    assert_eq!(load(&there).await, ("cap".into(), HIT));

    // A key someone else wrote is not a result: it is loaded over.
    redis.cli(&["set", "item:1", "not a result"]);
    assert_eq!(load(&here).await, ("cap".into(), MISS));

    // What it cannot keep correct, it refuses.
    let request =
        GetOrLoadRequest { key: "r".into(), sql: "select random()".into(), ttl_ms: 1000, ..Default::default() };
    let refused = here.get_or_load(request).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::FailedPrecondition, "{refused:?}");
    let request = GetOrLoadRequest { key: "k".into(), sql: "select 1".into(), ..Default::default() };
    assert_eq!(here.get_or_load(request).await.unwrap_err().code, ErrorCode::InvalidArgument);
    let (_c, no_redis) = start(&pg, |_| {}).await;
    let request = GetOrLoadRequest { key: "k".into(), sql: "select 1".into(), ttl_ms: 1000, ..Default::default() };
    let error = no_redis.get_or_load(request).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::FailedPrecondition);
    assert!(error.message.unwrap().contains("ATTACHE_REDIS_URL"));
}

fn step_query(sql: &str) -> TransactionRequest {
    TransactionRequest {
        step: Some(In::Query(Box::new(QueryRequest { sql: sql.into(), ..Default::default() }))),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_streamed_transaction_lives_and_dies_with_its_stream() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!("create table {s}.t (a int primary key)"));
    let (_sidecar, client) = start(&pg, |_| {}).await;
    let count = || pg.psql(&format!("select count(*) from {s}.t"));

    // begin, statements, commit: each answered in turn.
    let mut stream = client.transaction().await.unwrap();
    let begin = BeginRequest { isolation: Isolation::ISOLATION_SERIALIZABLE.into(), ..Default::default() };
    stream.send(TransactionRequest { step: Some(In::Begin(Box::new(begin))), ..Default::default() }).await.unwrap();
    let begun = stream.message().await.unwrap().unwrap().to_owned_message();
    assert!(matches!(begun.step, Some(Out::Begun(_))), "{begun:?}");
    stream.send(step_query(&format!("insert into {s}.t values (1), (2)"))).await.unwrap();
    let result = stream.message().await.unwrap().unwrap().to_owned_message();
    let Some(Out::Result(result)) = result.step else { panic!("{result:?}") };
    assert_eq!(result.rows_affected, 2);
    stream.send(step_query("show transaction_isolation")).await.unwrap();
    let shown = stream.message().await.unwrap().unwrap().to_owned_message();
    let Some(Out::Result(shown)) = shown.step else { panic!() };
    assert_eq!(first(&shown), "serializable");
    assert_eq!(count(), "0", "not visible before commit");
    stream.send(TransactionRequest { step: Some(In::Commit(Box::default())), ..Default::default() }).await.unwrap();
    let committed = stream.message().await.unwrap().unwrap().to_owned_message();
    assert!(matches!(committed.step, Some(Out::Committed(_))));
    assert!(stream.message().await.unwrap().is_none(), "the stream ends with the transaction");
    assert_eq!(count(), "2");

    // A stream that goes away mid-transaction is rolled back.
    let mut stream = client.transaction().await.unwrap();
    stream.send(step_query(&format!("insert into {s}.t values (3)"))).await.unwrap();
    assert!(matches!(stream.message().await.unwrap().unwrap().to_owned_message().step, Some(Out::Result(_))));
    drop(stream);
    let until = Instant::now() + Duration::from_secs(5);
    while pg.psql("select count(*) from pg_stat_activity where state like 'idle in transaction%'") != "0" {
        assert!(Instant::now() < until, "the dropped stream's transaction is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(), "2");

    // A failing statement ends the stream with its error; nothing commits.
    let mut stream = client.transaction().await.unwrap();
    stream.send(step_query(&format!("insert into {s}.t values (4)"))).await.unwrap();
    stream.message().await.unwrap().unwrap();
    stream.send(step_query(&format!("insert into {s}.t values (1)"))).await.unwrap();
    let error = stream.message().await.unwrap_err();
    assert_eq!(error.code, ErrorCode::AlreadyExists, "{error:?}");
    assert_eq!(count(), "2");
}

#[tokio::test]
async fn in_replication_mode_writes_made_outside_attache_invalidate_within_a_second() {
    let pg = PostgresServer::start();
    let s = pg.schema();
    pg.psql(&format!(
        "create table {s}.t (id int primary key, n int); insert into {s}.t values (1, 1);
         create table {s}.loose (n int); insert into {s}.loose values (1)"
    ));
    let replication = |c: &mut attache_config::Config| {
        c.postgres.cache.invalidation = attache_postgres::Invalidation::Replication;
    };
    let (_a, here) = start(&pg, replication).await;
    let (_b, _there) = start(&pg, replication).await;
    let read = format!("select n from {s}.t where id = 1");
    // Until a consumer is elected and the publication is read, nothing is cached.
    let until = Instant::now() + Duration::from_secs(10);
    while cached(&here, &read, vec![], 60_000).await.1 != HIT {
        assert!(Instant::now() < until, "never cached in replication mode");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pg.psql("select count(*) from pg_replication_slots where temporary"), "1", "one consumer");

    // A write behind attache's back.
    pg.psql(&format!("update {s}.t set n = 2 where id = 1"));
    let written = Instant::now();
    loop {
        let (reply, status, _) = cached(&here, &read, vec![], 60_000).await;
        if first(&reply) == "2" {
            break;
        }
        assert_eq!(status, HIT);
        assert!(written.elapsed() < Duration::from_secs(1), "still stale after {:?}", written.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("a psql write invalidated the cache in {:?}", written.elapsed());

    // A table without a primary key stays out of the publication (its
    // UPDATEs keep working), and reads of it are not cached.
    let (_, status, reason) = cached(&here, &format!("select n from {s}.loose"), vec![], 60_000).await;
    assert_eq!(status, MISS);
    assert!(reason.contains("publication"), "{reason}");
    pg.psql(&format!("update {s}.loose set n = 2"));

    // The stream breaks (every channel connection cut): no result cached
    // before can be served after a write made while it was down.
    assert_eq!(cached(&here, &read, vec![], 60_000).await.1, HIT);
    pg.psql("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'attache cache channel'");
    pg.psql(&format!("update {s}.t set n = 3 where id = 1"));
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (reply, status, _) = cached(&here, &read, vec![], 60_000).await;
        if first(&reply) == "3" {
            break;
        }
        assert!(Instant::now() < until, "the old row outlived the stream");
        assert!(status == HIT, "{status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    while cached(&here, &read, vec![], 60_000).await.1 != HIT {
        assert!(Instant::now() < until, "caching did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! The Postgres ambassador end to end: the sidecar in-process, a real
//! PostgreSQL per test (testing/postgres/), and `psql` as the independent
//! client that writes behind attache's back and reads results back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use attache_proto::attache::postgres::v1::__buffa::oneof::value::Kind;
use attache_proto::attache::postgres::v1::{
    BeginRequest, CommitRequest, ExecuteRequest, Param, PostgresServiceClient, QueryRequest, QueryResponse,
    RollbackRequest, Statement, Value,
};
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

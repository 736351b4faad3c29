//! The conformance suite's runner for the Rust SDK: reads requests on
//! stdin, runs each through `attache-client`'s public API, and answers on
//! stdout, one JSON object per line (conformance/README.md).

use std::collections::HashMap;
use std::time::Duration;

use attache_client::image::{Fit, Format, Gravity, ResizeOptions, ResizedImage};
use attache_client::kafka::{Ack, ConsumeOptions, FetchOptions, Record, StartFrom};
use attache_client::password::Algorithm;
use attache_client::postgres::{
    CacheStatus, Date, ExecuteOptions, InsertOptions, Isolation, OnConflict, Param, QueryOptions, Rows, Statement,
    Timestamp, TxOptions, Value as PgValue,
};
use attache_client::redis::{Call, Value as RedisValue};
use attache_client::{Client, Error};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// What a request fails with: the SDK's error, or the runner's own
/// (a malformed request), reported as `internal`.
enum Fail {
    Sdk(Error),
    Runner(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Sdk(e)
    }
}

type Out = Result<Json, Fail>;

fn bad(what: impl Into<String>) -> Fail {
    Fail::Runner(what.into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut stdout = tokio::io::stdout();
    let hello = json!({"hello": {"sdk": "rust", "version": env!("CARGO_PKG_VERSION")}});
    write_line(&mut stdout, &hello).await;
    let mut clients: HashMap<Option<String>, Client> = HashMap::new();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match serde_json::from_str::<Json>(&line) {
            Ok(request) => answer(&mut clients, &request).await,
            Err(e) => json!({"id": null, "error": {"code": "internal", "message": format!("not JSON: {e}")}}),
        };
        write_line(&mut stdout, &reply).await;
    }
}

async fn write_line(out: &mut tokio::io::Stdout, value: &Json) {
    let mut line = value.to_string();
    line.push('\n');
    out.write_all(line.as_bytes()).await.expect("stdout");
    out.flush().await.expect("stdout");
}

async fn answer(clients: &mut HashMap<Option<String>, Client>, request: &Json) -> Json {
    let id = request["id"].clone();
    let socket = request["socket"].as_str().map(str::to_owned);
    let client = match clients.get(&socket) {
        Some(c) => Ok(c.clone()),
        None => {
            // No socket: the SDK's own rule, which reads ATTACHE_SOCKET.
            let built = match &socket {
                Some(path) => Client::builder().socket(path).build(),
                None => Client::from_env(),
            };
            built.inspect(|c| {
                clients.insert(socket.clone(), c.clone());
            })
        }
    };
    let outcome = match client {
        Ok(client) => {
            let client = match request["timeout_ms"].as_u64() {
                Some(ms) => client.with_timeout(Duration::from_millis(ms)),
                None => client,
            };
            let op = request["op"].as_str().unwrap_or_default();
            run(&client, op, &request["args"]).await
        }
        Err(e) => Err(Fail::Sdk(e)),
    };
    match outcome {
        Ok(result) => json!({"id": id, "result": result}),
        Err(Fail::Sdk(Error::Redis(message))) => {
            json!({"id": id, "error": {"code": "redis_reply", "message": message}})
        }
        Err(Fail::Sdk(e)) => json!({"id": id, "error": {"code": e.code().as_str(), "message": e.message()}}),
        Err(Fail::Runner(message)) => {
            json!({"id": id, "error": {"code": "internal", "message": format!("runner: {message}")}})
        }
    }
}

async fn run(c: &Client, op: &str, a: &Json) -> Out {
    match op {
        "sidecar.info" => {
            let info = c.info().await?;
            Ok(json!({"version": info.version, "modules": info.modules}))
        }
        "password.hash" => password_hash(c, a).await,
        "password.verify" => {
            let v = c.password().verify(text(&a["password"])?, text(&a["hash"])?).await?;
            Ok(json!({"valid": v.valid, "needs_rehash": v.needs_rehash}))
        }
        "image.resize" => {
            let r = c.image().resize(&bytes(&a["image"])?, &resize_options(a)?).await?;
            Ok(resized(&r))
        }
        "image.resize_many" => {
            let outputs = list(&a["outputs"])?.iter().map(resize_options).collect::<Result<Vec<_>, _>>()?;
            let r = c.image().resize_many(&bytes(&a["image"])?, &outputs).await?;
            Ok(json!({"outputs": r.iter().map(resized).collect::<Vec<_>>()}))
        }
        "image.probe" => {
            let i = c.image().probe(&bytes(&a["image"])?).await?;
            Ok(json!({
                "format": format_name(i.format), "width": i.width, "height": i.height, "orientation": i.orientation,
                "upright_width": i.upright_width, "upright_height": i.upright_height, "has_alpha": i.has_alpha,
                "color_space": i.color_space, "bit_depth": i.bit_depth, "progressive": i.progressive,
                "has_icc_profile": i.has_icc_profile, "has_exif": i.has_exif,
            }))
        }
        "redis.do" => Ok(json!({"reply": redis_json(&c.redis().command(words(&a["args"])?).await?)})),
        "redis.do_multi" => {
            let commands = list(&a["commands"])?.iter().map(words).collect::<Result<Vec<_>, _>>()?;
            let replies = c.redis().pipeline(commands).await?;
            Ok(json!({"replies": replies.iter().map(redis_json).collect::<Vec<_>>()}))
        }
        "redis.do_cached" => {
            let (value, hit) = c.redis().cached(words(&a["args"])?, ms(&a["ttl_ms"])).await?;
            Ok(json!({"reply": redis_json(&value), "cache_hit": hit}))
        }
        "redis.mget_cached" => {
            let (values, hits) = c.redis().mget_cached(words(&a["keys"])?, ms(&a["ttl_ms"])).await?;
            Ok(json!({"values": values.iter().map(redis_json).collect::<Vec<_>>(), "cache_hits": hits}))
        }
        "redis.batch" => redis_batch(c, a).await,
        "redis.subscribe" => redis_subscribe(c, a).await,
        "postgres.query" => {
            let options = QueryOptions {
                max_rows: a["max_rows"].as_u64().unwrap_or(0),
                cache_ttl: a["cache_ttl_ms"].as_u64().map(Duration::from_millis),
            };
            Ok(rows_json(&c.postgres().query_with(text(&a["sql"])?, &params(&a["params"])?, &options).await?))
        }
        "postgres.execute" => {
            let statements = list(&a["statements"])?
                .iter()
                .map(|s| Ok(Statement { sql: text(&s["sql"])?.to_owned(), params: params(&s["params"])? }))
                .collect::<Result<Vec<_>, Fail>>()?;
            let options = ExecuteOptions {
                transactional: a["transactional"].as_bool().unwrap_or(false),
                isolation: isolation(&a["isolation"])?,
                read_only: a["read_only"].as_bool().unwrap_or(false),
            };
            let results = c.postgres().execute(&statements, options).await?;
            Ok(json!({"results": results.iter().map(rows_json).collect::<Vec<_>>()}))
        }
        "postgres.insert" => postgres_insert(c, a).await,
        "postgres.get_or_load" => {
            let rows = c
                .postgres()
                .get_or_load(text(&a["key"])?, text(&a["sql"])?, &params(&a["params"])?, ms(&a["ttl_ms"]))
                .await?;
            Ok(rows_json(&rows))
        }
        "postgres.transaction" => postgres_transaction(c, a).await,
        "kafka.produce" => {
            let produced = c.kafka().produce(&records(&a["records"])?, ack(&a["ack"])?).await?;
            Ok(json!({"results": produced_json(&produced)}))
        }
        "kafka.produce_stream" => {
            let mut stream = c.kafka().produce_stream(ack(&a["ack"])?).await?;
            let mut results = Vec::new();
            for batch in list(&a["batches"])? {
                results.push(produced_json(&stream.send(&records(batch)?).await?));
            }
            stream.close().await?;
            Ok(json!({"results": results}))
        }
        "kafka.fetch" => kafka_fetch(c, a).await,
        "kafka.consume" => kafka_consume(c, a).await,
        _ => Err(bad(format!("unknown op {op:?}"))),
    }
}

// --- arguments -----------------------------------------------------------

fn text(v: &Json) -> Result<&str, Fail> {
    v.as_str().ok_or_else(|| bad(format!("{v} is not a string")))
}

fn list(v: &Json) -> Result<&Vec<Json>, Fail> {
    static EMPTY: Vec<Json> = Vec::new();
    if v.is_null() {
        return Ok(&EMPTY);
    }
    v.as_array().ok_or_else(|| bad(format!("{v} is not a list")))
}

fn bytes(v: &Json) -> Result<Vec<u8>, Fail> {
    match v {
        Json::String(s) => Ok(s.as_bytes().to_vec()),
        Json::Number(n) => Ok(n.to_string().into_bytes()),
        Json::Object(o) if o.contains_key("$b64") => {
            B64.decode(text(&o["$b64"])?).map_err(|e| bad(format!("bad $b64: {e}")))
        }
        _ => Err(bad(format!("{v} is not bytes"))),
    }
}

fn words(v: &Json) -> Result<Vec<Vec<u8>>, Fail> {
    list(v)?.iter().map(bytes).collect()
}

fn ms(v: &Json) -> Duration {
    Duration::from_millis(v.as_u64().unwrap_or(0))
}

fn u32_of(v: &Json) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Bytes as the contract shows them: text when UTF-8, else `$b64`.
fn bytes_json(b: &[u8]) -> Json {
    match std::str::from_utf8(b) {
        Ok(s) => Json::String(s.to_owned()),
        Err(_) => json!({"$b64": B64.encode(b)}),
    }
}

/// Integers beyond 2^53 as decimal strings.
fn int_json(n: i64) -> Json {
    if n.unsigned_abs() <= 1 << 53 { json!(n) } else { Json::String(n.to_string()) }
}

fn float_json(f: f64) -> Json {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

// --- password and image --------------------------------------------------

async fn password_hash(c: &Client, a: &Json) -> Out {
    let p = &a["params"];
    let algorithm = match a["algorithm"].as_str() {
        None if p.is_null() => None,
        None | Some("argon2id") if p.get("cost").is_none() && p.get("log_n").is_none() => Some(Algorithm::Argon2id {
            memory_kib: u32_of(&p["memory_kib"]),
            iterations: u32_of(&p["iterations"]),
            parallelism: u32_of(&p["parallelism"]),
        }),
        None | Some("bcrypt") if p.get("log_n").is_none() => Some(Algorithm::Bcrypt { cost: u32_of(&p["cost"]) }),
        None | Some("scrypt") => {
            Some(Algorithm::Scrypt { log_n: u32_of(&p["log_n"]), r: u32_of(&p["r"]), p: u32_of(&p["p"]) })
        }
        Some(other) => return Err(bad(format!("unknown algorithm {other}"))),
    };
    let password = text(&a["password"])?;
    let hash = match algorithm {
        None => c.password().hash(password).await?,
        Some(algorithm) => c.password().hash_with(password, algorithm).await?,
    };
    Ok(json!({"hash": hash}))
}

fn resize_options(a: &Json) -> Result<ResizeOptions, Fail> {
    let fit = match a["fit"].as_str() {
        None | Some("cover") => Fit::Cover,
        Some("contain") => Fit::Contain,
        Some("fill") => Fit::Fill,
        Some("inside") => Fit::Inside,
        Some("outside") => Fit::Outside,
        Some(other) => return Err(bad(format!("unknown fit {other}"))),
    };
    let gravity = match a["gravity"].as_str() {
        None | Some("centre") => Gravity::Centre,
        Some("north") => Gravity::North,
        Some("north_east") => Gravity::NorthEast,
        Some("east") => Gravity::East,
        Some("south_east") => Gravity::SouthEast,
        Some("south") => Gravity::South,
        Some("south_west") => Gravity::SouthWest,
        Some("west") => Gravity::West,
        Some("north_west") => Gravity::NorthWest,
        Some("entropy") => Gravity::Entropy,
        Some(other) => return Err(bad(format!("unknown gravity {other}"))),
    };
    let format = match a["format"].as_str() {
        None => None,
        Some("jpeg") => Some(Format::Jpeg),
        Some("png") => Some(Format::Png),
        Some("webp") => Some(Format::Webp),
        Some("avif") => Some(Format::Avif),
        Some(other) => return Err(bad(format!("unknown format {other}"))),
    };
    Ok(ResizeOptions {
        width: u32_of(&a["width"]),
        height: u32_of(&a["height"]),
        fit,
        gravity,
        format,
        quality: u32_of(&a["quality"]),
        without_enlargement: a["without_enlargement"].as_bool().unwrap_or(false),
        background: a["background"].as_str().map(str::to_owned),
        progressive: a["progressive"].as_bool().unwrap_or(false),
        keep_metadata: a["keep_metadata"].as_bool().unwrap_or(false),
    })
}

fn format_name(f: Option<Format>) -> Json {
    match f {
        Some(Format::Jpeg) => json!("jpeg"),
        Some(Format::Png) => json!("png"),
        Some(Format::Webp) => json!("webp"),
        Some(Format::Avif) => json!("avif"),
        _ => Json::Null,
    }
}

fn resized(r: &ResizedImage) -> Json {
    json!({"format": format_name(r.format), "width": r.width, "height": r.height, "size": r.data.len()})
}

// --- redis ---------------------------------------------------------------

fn redis_json(v: &RedisValue) -> Json {
    match v {
        RedisValue::Nil => Json::Null,
        RedisValue::Bytes(b) => bytes_json(b),
        RedisValue::Simple(s) | RedisValue::BigNumber(s) => json!(s),
        RedisValue::Verbatim { text, .. } => bytes_json(text),
        RedisValue::Int(n) => int_json(*n),
        RedisValue::Double(d) => float_json(*d),
        RedisValue::Bool(b) => json!(b),
        RedisValue::Array(items) | RedisValue::Set(items) => Json::Array(items.iter().map(redis_json).collect()),
        RedisValue::Map(entries) => {
            Json::Array(entries.iter().map(|(k, v)| json!([redis_json(k), redis_json(v)])).collect())
        }
        RedisValue::Error(e) => json!({"$error": e}),
        other => json!({"$unknown": format!("{other:?}")}),
    }
}

fn error_json(e: &Error) -> Json {
    match e {
        Error::Redis(message) => json!({"code": "redis_reply", "message": message}),
        e => json!({"code": e.code().as_str(), "message": e.message()}),
    }
}

async fn redis_batch(c: &Client, a: &Json) -> Out {
    let calls = list(&a["calls"])?
        .iter()
        .map(|call| match (call.get("do"), call.get("do_cached")) {
            (Some(args), _) => Ok(Call::Command(words(args)?)),
            (_, Some(cached)) => Ok(Call::Cached(words(&cached["args"])?, ms(&cached["ttl_ms"]))),
            _ => Err(bad(format!("{call} is neither do nor do_cached"))),
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    let results = c.redis().batch(calls).await?;
    let results: Vec<Json> = results
        .iter()
        .map(|r| match r {
            Ok(reply) => json!({"reply": redis_json(&reply.value), "cache_hit": reply.cache_hit}),
            Err(e) => json!({"error": error_json(e)}),
        })
        .collect();
    Ok(json!({"results": results}))
}

async fn redis_subscribe(c: &Client, a: &Json) -> Out {
    let channels: Vec<&str> = list(&a["channels"])?.iter().map(text).collect::<Result<_, _>>()?;
    let patterns: Vec<&str> = list(&a["patterns"])?.iter().map(text).collect::<Result<_, _>>()?;
    let mut subscription = c.redis().subscribe(&channels, &patterns).await?;
    let publish = list(&a["publish"])?;
    for p in publish {
        c.redis().command([b"PUBLISH".to_vec(), bytes(&p[0])?, bytes(&p[1])?]).await?;
    }
    let mut messages = Vec::new();
    let read = async {
        while messages.len() < publish.len() {
            match subscription.next().await {
                Some(Ok(m)) => messages
                    .push(json!({"channel": m.channel, "pattern": m.pattern, "payload": bytes_json(&m.payload)})),
                Some(Err(e)) => return Err(Fail::Sdk(e)),
                None => return Err(bad("the subscription ended early")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(c.timeout(), read).await.map_err(|_| bad("too few messages within the timeout"))??;
    Ok(json!({"messages": messages}))
}

// --- postgres ------------------------------------------------------------

fn param(v: &Json) -> Result<Param, Fail> {
    Ok(match v {
        Json::Null => Param::Null,
        Json::Bool(b) => Param::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Param::Int(i),
            None => Param::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Param::Text(s.clone()),
        Json::Object(o) if o.contains_key("$b64") => Param::Bytes(bytes(v)?),
        Json::Object(o) if o.contains_key("$type") => Param::typed(text(&o["$type"])?, param(&o["value"])?),
        other => Param::Json(other.clone()),
    })
}

fn params(v: &Json) -> Result<Vec<Param>, Fail> {
    list(v)?.iter().map(param).collect()
}

fn isolation(v: &Json) -> Result<Isolation, Fail> {
    Ok(match v.as_str() {
        None => Isolation::Default,
        Some("read_committed") => Isolation::ReadCommitted,
        Some("repeatable_read") => Isolation::RepeatableRead,
        Some("serializable") => Isolation::Serializable,
        Some(other) => return Err(bad(format!("unknown isolation {other}"))),
    })
}

/// Days since 1970-01-01 as (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn timestamp_json(t: Timestamp, zone: &str) -> Json {
    match t {
        Timestamp::Infinity => json!("infinity"),
        Timestamp::NegInfinity => json!("-infinity"),
        Timestamp::Micros(us) => {
            let (days, rest) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
            let (y, m, d) = civil(days);
            let secs = rest / 1_000_000;
            Json::String(format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}{zone}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                rest % 1_000_000
            ))
        }
    }
}

fn pg_json(v: &PgValue) -> Json {
    match v {
        PgValue::Null => Json::Null,
        PgValue::Bool(b) => json!(b),
        PgValue::Int(n) => int_json(*n),
        PgValue::Float(f) => float_json(*f),
        PgValue::Text(s) | PgValue::Numeric(s) | PgValue::Uuid(s) => json!(s),
        PgValue::Bytes(b) => json!({"$b64": B64.encode(b)}),
        PgValue::Json(j) => serde_json::from_str(j).unwrap_or_else(|_| json!(j)),
        PgValue::Timestamptz(t) => timestamp_json(*t, "Z"),
        PgValue::Timestamp(t) => timestamp_json(*t, ""),
        PgValue::Date(Date::Days(days)) => {
            let (y, m, d) = civil(i64::from(*days));
            Json::String(format!("{y:04}-{m:02}-{d:02}"))
        }
        PgValue::Date(Date::Infinity) => json!("infinity"),
        PgValue::Date(Date::NegInfinity) => json!("-infinity"),
        PgValue::Time(us) => {
            let secs = us / 1_000_000;
            Json::String(format!("{:02}:{:02}:{:02}.{:06}", secs / 3600, secs / 60 % 60, secs % 60, us % 1_000_000))
        }
        PgValue::Interval { months, days, micros } => {
            json!({"months": months, "days": days, "micros": int_json(*micros)})
        }
        PgValue::Array { elements, .. } => Json::Array(elements.iter().map(pg_json).collect()),
        PgValue::Record(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.clone(), pg_json(v))).collect::<Map<_, _>>())
        }
        PgValue::Typed { text, .. } => json!(text),
        other => json!({"$unknown": format!("{other:?}")}),
    }
}

fn rows_json(r: &Rows) -> Json {
    let mut out = json!({
        "columns": r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "rows": r.rows.iter().map(|row| row.iter().map(pg_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "rows_affected": r.rows_affected,
    });
    if let Some(cache) = r.cache {
        out["cache"] = json!(match cache {
            CacheStatus::Bypass => "bypass",
            CacheStatus::Miss => "miss",
            CacheStatus::Coalesced => "coalesced",
            CacheStatus::Hit => "hit",
            _ => "unknown",
        });
    }
    out
}

async fn postgres_insert(c: &Client, a: &Json) -> Out {
    let row = a["row"].as_object().ok_or_else(|| bad("row is not an object"))?;
    let values = row.iter().map(|(k, v)| Ok((k.as_str(), param(v)?))).collect::<Result<Vec<_>, Fail>>()?;
    let on_conflict = match a["on_conflict"]["action"].as_str() {
        None => None,
        Some("nothing") => Some(OnConflict::Nothing { target: strings(&a["on_conflict"]["target"])? }),
        Some("update") => Some(OnConflict::Update {
            target: strings(&a["on_conflict"]["target"])?,
            update: strings(&a["on_conflict"]["update"])?,
        }),
        Some(other) => return Err(bad(format!("unknown conflict action {other}"))),
    };
    let options = InsertOptions { returning: strings(&a["returning"])?, on_conflict };
    let inserted = c.postgres().insert(text(&a["table"])?, &values, &options).await?;
    let row = inserted.row.map(|r| Json::Object(r.iter().map(|(k, v)| (k.clone(), pg_json(v))).collect()));
    Ok(json!({"inserted": inserted.inserted, "row": row}))
}

async fn postgres_transaction(c: &Client, a: &Json) -> Out {
    let options = TxOptions {
        isolation: isolation(&a["isolation"])?,
        read_only: a["read_only"].as_bool().unwrap_or(false),
        deferrable: a["deferrable"].as_bool().unwrap_or(false),
    };
    let commit = match a["end"].as_str() {
        Some("commit") | None => true,
        Some("rollback") => false,
        Some(other) => return Err(bad(format!("unknown end {other}"))),
    };
    let mut results = Vec::new();
    if a["stream"].as_bool().unwrap_or(false) {
        let mut tx = c.postgres().transaction(options).await?;
        for step in list(&a["steps"])? {
            results.push(rows_json(&tx.query(text(&step["sql"])?, &params(&step["params"])?).await?));
        }
        if commit { tx.commit().await? } else { tx.rollback().await? }
    } else {
        // A failing step drops the transaction, which rolls it back.
        let tx = c.postgres().begin(options).await?;
        for step in list(&a["steps"])? {
            results.push(rows_json(&tx.query(text(&step["sql"])?, &params(&step["params"])?).await?));
        }
        if commit { tx.commit().await? } else { tx.rollback().await? }
    }
    Ok(json!({"results": results}))
}

// --- kafka ---------------------------------------------------------------

fn records(v: &Json) -> Result<Vec<Record>, Fail> {
    list(v)?
        .iter()
        .map(|r| {
            let headers = list(&r["headers"])?
                .iter()
                .map(|h| Ok((text(&h[0])?.to_owned(), if h[1].is_null() { None } else { Some(bytes(&h[1])?) })))
                .collect::<Result<Vec<_>, Fail>>()?;
            let opt = |v: &Json| if v.is_null() { Ok(None) } else { bytes(v).map(Some) };
            Ok(Record {
                topic: text(&r["topic"])?.to_owned(),
                key: opt(&r["key"])?,
                value: opt(&r["value"])?,
                headers,
                partition: r["partition"].as_i64().map(|p| p as i32),
                timestamp_ms: r["timestamp_ms"].as_i64(),
            })
        })
        .collect()
}

fn ack(v: &Json) -> Result<Ack, Fail> {
    match v.as_str() {
        None | Some("spooled") => Ok(Ack::Spooled),
        Some("delivered") => Ok(Ack::Delivered),
        Some(other) => Err(bad(format!("unknown ack {other}"))),
    }
}

fn produced_json(produced: &[attache_client::kafka::Produced]) -> Json {
    Json::Array(
        produced
            .iter()
            .map(|p| json!({"partition": p.partition, "offset": p.offset, "error": p.error.as_ref().map(error_json)}))
            .collect(),
    )
}

fn start(v: &Json) -> Result<StartFrom, Fail> {
    match v.as_str() {
        None => Ok(StartFrom::Default),
        Some("earliest") => Ok(StartFrom::Earliest),
        Some("latest") => Ok(StartFrom::Latest),
        Some(other) => Err(bad(format!("unknown start {other}"))),
    }
}

fn consumed_json(r: &attache_client::kafka::ConsumedRecord) -> Json {
    let opt = |b: &Option<Vec<u8>>| b.as_deref().map_or(Json::Null, bytes_json);
    json!({
        "topic": r.topic, "partition": r.partition, "offset": r.offset, "key": opt(&r.key), "value": opt(&r.value),
        "headers": r.headers.iter().map(|(k, v)| json!([k, opt(v)])).collect::<Vec<_>>(),
    })
}

fn strings(v: &Json) -> Result<Vec<String>, Fail> {
    list(v)?.iter().map(|s| text(s).map(str::to_owned)).collect()
}

async fn kafka_fetch(c: &Client, a: &Json) -> Out {
    let want = a["want"].as_u64();
    let max_wait = Duration::from_millis(a["max_wait_ms"].as_u64().unwrap_or(1000));
    let until = tokio::time::Instant::now() + max_wait;
    let (mut records, mut committed) = (Vec::new(), 0);
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let options = FetchOptions {
            group: text(&a["group"])?.to_owned(),
            topics: strings(&a["topics"])?,
            max_records: u32_of(&a["max_records"]),
            max_wait: Some(left),
            lease: a["lease_ms"].as_u64().map(Duration::from_millis),
            start: start(&a["start"])?,
        };
        let lease = c.kafka().fetch(&options).await?;
        records.extend(lease.records.iter().map(consumed_json));
        if a["commit"].as_str() == Some("all") && !lease.records.is_empty() {
            committed += lease.commit_all().await?.acked;
        }
        let enough = want.is_none_or(|w| records.len() as u64 >= w);
        if enough || tokio::time::Instant::now() >= until {
            break;
        }
    }
    Ok(json!({"records": records, "committed": committed}))
}

async fn kafka_consume(c: &Client, a: &Json) -> Out {
    let options = ConsumeOptions {
        group: text(&a["group"])?.to_owned(),
        topics: strings(&a["topics"])?,
        instance_id: String::new(),
        max_unacked: u32_of(&a["max_unacked"]),
        start: start(&a["start"])?,
    };
    let count = a["count"].as_u64().unwrap_or(0) as usize;
    let do_ack = a["ack"].as_bool().unwrap_or(false);
    let mut consumer = c.kafka().consume(&options).await?;
    let mut records = Vec::new();
    let read = async {
        while records.len() < count {
            match consumer.next().await {
                Some(Ok(r)) => {
                    if do_ack {
                        consumer.ack(&r);
                    }
                    records.push(consumed_json(&r));
                }
                Some(Err(e)) => return Err(Fail::Sdk(e)),
                None => return Err(bad("the consumer ended early")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(c.timeout(), read).await.map_err(|_| bad("too few records within the timeout"))??;
    consumer.close().await?;
    Ok(json!({"records": records}))
}

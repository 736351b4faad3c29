import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Attache, AttacheError, typed, type InsertResult, type Transaction } from "../src/index.js";
import { startSidecar, type Sidecar } from "./sidecar.js";

const scripts = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../../testing/postgres");
const redisScripts = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../../testing/redis");

describe("postgres", () => {
  let sidecar: Sidecar;
  let client: Attache;
  let pgDir: string;
  let url: string;
  // A table of its own per run, so a rerun against a kept server starts clean.
  const table = `attache_node_${randomBytes(4).toString("hex")}`;

  before(async () => {
    pgDir = mkdtempSync(join(tmpdir(), "attache-node-pg-"));
    url = execFileSync(join(scripts, "start"), [pgDir], { encoding: "utf8" }).trim();
    sidecar = await startSidecar({ ATTACHE_POSTGRES_URL: url });
    client = new Attache({ socket: sidecar.socket });
    for (let i = 0; ; i++) {
      try {
        await client.postgres.query("select 1");
        break;
      } catch (err) {
        if (i > 200) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await client.postgres.query(`create table ${table} (id int8 primary key, email text unique, name text)`);
  });

  after(async () => {
    await client.postgres.query(`drop table if exists ${table}, ${table}_ins`).catch(() => undefined);
    client.close();
    assert.equal(await sidecar.stop(), 0);
    execFileSync(join(scripts, "stop"), [pgDir]);
  });

  test("values come back as JS types", async () => {
    const result = await client.postgres.query(`
      select 9007199254740993::int8 as big, 42::int4 as small,
        '123456789012345678901234567890'::numeric as num, 'NaN'::float8 as nan, 1.5::float4 as f,
        'infinity'::timestamptz as inf, '-infinity'::timestamptz as ninf,
        '2024-02-29 12:34:56.789123+00'::timestamptz as ts, '1969-12-31 23:59:59.9995+00'::timestamptz as before_epoch,
        '2024-01-02 03:04:05.678901'::timestamp as naive,
        '2024-02-29'::date as day, '0044-03-15 BC'::date as ides, 'infinity'::date as someday,
        '12:34:56.5'::time as clock, '1 mon 2 days 00:00:03'::interval as span,
        '\\x00ff0d0a'::bytea as bin, '{"a": [1, 2, {"b": null}]}'::jsonb as doc,
        array[[1, 2, 3], [4, 5, 6]]::int[] as grid, '{}'::int[] as empty, array['a', null]::text[] as texts,
        null::text as nothing, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid as id,
        true as yes, 'héllo'::text as t, row(1::int8, 'x') as rec, '192.168.0.1/24'::inet as net`);
    const [row] = result.rows;
    assert.equal(row.big, 9007199254740993n);
    assert.equal(row.small, 42, "int4 always fits a number");
    assert.equal(row.num, "123456789012345678901234567890");
    assert.ok(Number.isNaN(row.nan));
    assert.equal(row.f, 1.5);
    assert.equal(row.inf, Infinity);
    assert.equal(row.ninf, -Infinity);
    assert.ok(row.ts instanceof Date);
    assert.equal((row.ts as Date).toISOString(), "2024-02-29T12:34:56.789Z");
    assert.equal((row.before_epoch as Date).toISOString(), "1969-12-31T23:59:59.999Z", "sub-millisecond digits dropped, not rounded");
    assert.equal((row.naive as Date).toISOString(), "2024-01-02T03:04:05.678Z", "a timestamp without zone reads as UTC");
    assert.equal(row.day, "2024-02-29");
    assert.equal(row.ides, "0044-03-15 BC");
    assert.equal(row.someday, "infinity");
    assert.equal(row.clock, "12:34:56.500000");
    assert.deepEqual(row.span, { months: 1, days: 2, micros: 3_000_000n });
    assert.deepEqual(row.bin, Buffer.from([0, 255, 13, 10]));
    assert.deepEqual(row.doc, { a: [1, 2, { b: null }] });
    assert.deepEqual(row.grid, [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(row.empty, []);
    assert.deepEqual(row.texts, ["a", null]);
    assert.equal(row.nothing, null);
    assert.equal(row.id, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert.equal(row.yes, true);
    assert.equal(row.t, "héllo");
    assert.deepEqual(row.rec, [1n, "x"]);
    assert.equal(row.net, "192.168.0.1/24");
    assert.deepEqual(result.columns[0], { name: "big", typeOid: 20, typeName: "int8" });
    assert.equal(result.columns.find((c) => c.name === "grid")?.typeName, "_int4");
    assert.equal(result.rowsAffected, 1);
    assert.equal(result.commandTag, "SELECT 1");
  });

  test("int8 comes back as bigint, string or number, never rounded", async () => {
    const sql = "select 9007199254740993::int8 as v";
    assert.deepEqual((await client.postgres.query(sql, [], { int8: "string" })).rows, [{ v: "9007199254740993" }]);
    assert.deepEqual((await client.postgres.query("select 5::int8 as v", [], { int8: "number" })).rows, [{ v: 5 }]);
    await assert.rejects(client.postgres.query(sql, [], { int8: "number" }), (e) => e instanceof AttacheError && e.code === "out_of_range");
    const strings = new Attache({ socket: sidecar.socket, postgres: { int8: "string" } });
    try {
      assert.deepEqual((await strings.postgres.query(sql)).rows, [{ v: "9007199254740993" }]);
      assert.deepEqual((await strings.postgres.query(sql, [], { int8: "bigint" })).rows, [{ v: 9007199254740993n }]);
    } finally {
      strings.close();
    }
  });

  test("duplicate column names: the last one wins", async () => {
    const result = await client.postgres.query("select 1 as one, 2 as one");
    assert.deepEqual(result.rows, [{ one: 2 }]);
    assert.deepEqual(result.columns.map((c) => c.name), ["one", "one"]);
  });

  test("parameters of each JS kind reach Postgres", async () => {
    const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
    const { rows } = await client.postgres.query(
      `select $1::int8 as a, $2::int4 as b, $3::float8 as c, $4::text as d, $5::bytea as e, $6::timestamptz as f,
        $7::int[] as g, $8::jsonb as h, $9::bool as i, $10::text as j, $11 as k, $12::numeric as l,
        $13::float8 as m, $14::text as n, $15::uuid as o, $16 as p, $17 as q, $18::text[] as r,
        $19::int8 - 1 as s, pg_typeof($20)::text as t`,
      [
        9007199254740993n,
        42,
        1.5,
        "héllo",
        Buffer.from([0, 255]),
        when,
        [[1, 2], [3, 4]],
        { a: [1, "x"], b: null },
        true,
        null,
        typed("9007199254740993", "int8"),
        2n ** 70n,
        NaN,
        undefined,
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        typed([1, "two"], "jsonb"),
        typed(new Uint8Array([1, 2, 3]), "bytea"),
        ["x", null, "z"],
        Number.MAX_SAFE_INTEGER,
        typed("2024-01-02", "date"),
      ],
    );
    assert.deepEqual(rows[0], {
      a: 9007199254740993n,
      b: 42,
      c: 1.5,
      d: "héllo",
      e: Buffer.from([0, 255]),
      f: when,
      g: [[1, 2], [3, 4]],
      h: { a: [1, "x"], b: null },
      i: true,
      j: null,
      k: 9007199254740993n,
      l: "1180591620717411303424",
      m: NaN,
      n: null,
      o: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
      p: [1, "two"],
      q: Buffer.from([1, 2, 3]),
      r: ["x", null, "z"],
      s: BigInt(Number.MAX_SAFE_INTEGER) - 1n,
      t: "date",
    });
    // Untyped parameters take the type Postgres infers from the statement.
    await client.postgres.query(`insert into ${table} (id, email, name) values ($1, $2, $3)`, [100, "infer@example.com", "Ada"]);
    const { rows: found } = await client.postgres.query(`select id, name from ${table} where email = $1`, ["infer@example.com"]);
    assert.deepEqual(found, [{ id: 100n, name: "Ada" }]);
  });

  test("parameters with no Postgres form are refused before sending", async () => {
    await assert.rejects(client.postgres.query("select $1", [[[1, 2], [3]]]), (e) => e instanceof AttacheError && e.code === "invalid_argument" && /rectangular/.test(e.message));
    await assert.rejects(client.postgres.query("select $1", [new Map()]), (e) => e instanceof AttacheError && e.code === "invalid_argument");
    await assert.rejects(client.postgres.query("select $1", [new Date(NaN)]), (e) => e instanceof AttacheError && e.code === "invalid_argument");
  });

  test("a unique violation is already_exists with Postgres's fields", async () => {
    await client.postgres.query(`insert into ${table} (id, email) values ($1, $2)`, [1, "a@example.com"]);
    await assert.rejects(client.postgres.query(`insert into ${table} (id, email) values ($1, $2)`, [2, "a@example.com"]), (e: unknown) => {
      assert.ok(e instanceof AttacheError);
      assert.equal(e.code, "already_exists");
      assert.equal(e.grpcCode, 6);
      assert.equal(e.domain, "postgres");
      assert.equal(e.sqlstate, "23505");
      assert.equal(e.metadata.sqlstate, "23505");
      assert.equal(e.constraint, `${table}_email_key`);
      assert.equal(e.table, table);
      assert.match(e.detail ?? "", /already exists/);
      assert.equal(e.isRetryable, false);
      return true;
    });
  });

  test("a syntax error is invalid_argument with the position", async () => {
    await assert.rejects(client.postgres.query("select * form nowhere"), (e: unknown) => {
      assert.ok(e instanceof AttacheError);
      assert.equal(e.code, "invalid_argument");
      assert.equal(e.sqlstate, "42601");
      assert.equal(e.position, "10");
      assert.match(e.message, /syntax error/);
      return true;
    });
    await assert.rejects(client.postgres.query(`select nope from ${table}`), { code: "invalid_argument", sqlstate: "42703" });
  });

  test("a transaction commits what its callback did", async () => {
    const count = await client.postgres.transaction(async (tx) => {
      await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [10, "tx@example.com"]);
      const { rows } = await tx.query<{ n: bigint }>(`select count(*) as n from ${table} where id = $1`, [10]);
      return rows[0].n;
    });
    assert.equal(count, 1n);
    assert.deepEqual((await client.postgres.query(`select email from ${table} where id = 10`)).rows, [{ email: "tx@example.com" }]);
  });

  test("a transaction whose callback throws is rolled back", async () => {
    let saved: Transaction | undefined;
    await assert.rejects(
      client.postgres.transaction(async (tx) => {
        saved = tx;
        await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [11, "gone@example.com"]);
        throw new Error("changed my mind");
      }, { isolation: "serializable" }),
      /changed my mind/,
    );
    assert.deepEqual((await client.postgres.query(`select id from ${table} where id = 11`)).rows, []);
    // The transaction is over: its id is no longer known.
    await assert.rejects(saved!.query("select 1"), { code: "not_found" });
    // A failed statement inside rejects the transaction with its own error.
    await assert.rejects(
      client.postgres.transaction(async (tx) => {
        await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [12, "twelve@example.com"]);
        await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [13, "twelve@example.com"]);
      }),
      { code: "already_exists", sqlstate: "23505" },
    );
    assert.deepEqual((await client.postgres.query(`select id from ${table} where id in (12, 13)`)).rows, []);
  });

  test("a transaction on a stream commits, rolls back, and ends at a failed statement", async () => {
    const count = await client.postgres.transaction(
      async (tx) => {
        assert.equal(tx.id, "", "the stream is the transaction: no id");
        await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [40, "stream@example.com"]);
        const { rows } = await tx.query<{ n: bigint }>(`select count(*) as n from ${table} where id = $1`, [40]);
        return rows[0].n;
      },
      { stream: true, isolation: "repeatable read" },
    );
    assert.equal(count, 1n);
    assert.deepEqual((await client.postgres.query(`select email from ${table} where id = 40`)).rows, [{ email: "stream@example.com" }]);

    await assert.rejects(
      client.postgres.transaction(
        async (tx) => {
          await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [41, "gone@example.com"]);
          throw new Error("changed my mind");
        },
        { stream: true },
      ),
      /changed my mind/,
    );
    assert.deepEqual((await client.postgres.query(`select id from ${table} where id = 41`)).rows, []);

    // A failed statement ends the stream: its own error, then the transaction is over.
    let saved: Transaction | undefined;
    await assert.rejects(
      client.postgres.transaction(
        async (tx) => {
          saved = tx;
          await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [42, "fortytwo@example.com"]);
          await tx.query(`insert into ${table} (id, email) values ($1, $2)`, [43, "fortytwo@example.com"]);
        },
        { stream: true },
      ),
      { code: "already_exists", sqlstate: "23505" },
    );
    assert.deepEqual((await client.postgres.query(`select id from ${table} where id in (42, 43)`)).rows, []);
    await assert.rejects(saved!.query("select 1"), { code: "failed_precondition" });

    // A read-only transaction refuses a write.
    await assert.rejects(
      client.postgres.transaction((tx) => tx.query(`insert into ${table} (id) values (44)`), { stream: true, readOnly: true }),
      (err: AttacheError) => err instanceof AttacheError && err.sqlstate === "25006",
    );
  });

  test("execute runs statements in order; transactional is all or nothing", async () => {
    const results = await client.postgres.execute([
      { sql: `insert into ${table} (id, email) values ($1, $2)`, params: [30, "thirty@example.com"] },
      { sql: `select id, email from ${table} where id = $1`, params: [30] },
    ]);
    assert.equal(results.length, 2);
    assert.equal(results[0].rowsAffected, 1);
    assert.equal(results[0].commandTag, "INSERT 0 1");
    assert.deepEqual(results[1].rows, [{ id: 30n, email: "thirty@example.com" }]);
    await assert.rejects(
      client.postgres.execute(
        [
          { sql: `insert into ${table} (id, email) values ($1, $2)`, params: [20, "twenty@example.com"] },
          { sql: `insert into ${table} (id, email) values ($1, $2)`, params: [21, "twenty@example.com"] },
        ],
        { transactional: true, isolation: "repeatable read" },
      ),
      { code: "already_exists", sqlstate: "23505" },
    );
    assert.deepEqual((await client.postgres.query(`select id from ${table} where id in (20, 21)`)).rows, []);
  });

  test("a cached read is a miss, then a hit, until a write through attache", async () => {
    await client.postgres.query(`insert into ${table} (id, email, name) values ($1, $2, $3)`, [500, "cached@example.com", "before"]);
    const read = () => client.postgres.query(`select name from ${table} where id = $1`, [500], { cacheTtlMs: 60_000 });
    const first = await read();
    assert.deepEqual(first.rows, [{ name: "before" }]);
    assert.deepEqual(first.cache, { status: "miss", reason: "", ageMs: 0 });
    const second = await read();
    assert.deepEqual(second.rows, [{ name: "before" }]);
    assert.equal(second.cache.status, "hit", JSON.stringify(second.cache));
    assert.equal(typeof second.cache.ageMs, "number");
    assert.ok(second.cache.ageMs >= 0, JSON.stringify(second.cache));
    const write = await client.postgres.query(`update ${table} set name = $1 where id = $2`, ["after", 500]);
    assert.equal(write.cache.status, "bypass", "a write is not shared or cached");
    const third = await read();
    assert.deepEqual(third.rows, [{ name: "after" }]);
    assert.equal(third.cache.status, "miss", JSON.stringify(third.cache));
    // Without cacheTtlMs nothing is cached; inside a transaction, nothing either.
    assert.notEqual((await client.postgres.query(`select name from ${table} where id = $1`, [500])).cache.status, "hit");
    const inTx = await client.postgres.transaction((tx) => tx.query(`select name from ${table} where id = $1`, [500], { cacheTtlMs: 60_000 }));
    assert.equal(inTx.cache.status, "bypass");
    await assert.rejects(client.postgres.query("select 1", [], { cacheTtlMs: -1 }), { code: "invalid_argument" });
  });

  test("concurrent inserts of one shape merge; each caller gets its own row; a conflict fails its caller alone", async () => {
    const t = `${table}_ins`;
    await client.postgres.query(`create table ${t} (id bigserial primary key, email text unique, n int, meta jsonb)`);
    type Row = { id: bigint; email: string; n: number };
    const insertAll = (emails: string[]) =>
      Promise.allSettled(emails.map((email, n) => client.postgres.insert<Row>(t, { email, n }, { returning: ["id", "email", "n"] })));
    const own = (reply: PromiseSettledResult<InsertResult<Row>>, email: string, n: number) => {
      assert.equal(reply.status, "fulfilled", reply.status === "rejected" ? String(reply.reason) : "");
      const { inserted, row, batchSize } = (reply as PromiseFulfilledResult<InsertResult<Row>>).value;
      assert.equal(inserted, true);
      assert.ok(row, "a returned row");
      assert.equal(typeof row.id, "bigint");
      assert.deepEqual({ email: row.email, n: row.n }, { email, n }, "each caller gets its own row back");
      assert.ok(batchSize >= 1, `batchSize ${batchSize}`);
      return { id: row.id, batchSize };
    };

    // Inserts merge while a batch runs; a round that happens to go one by
    // one (a busy machine) is tried again, a few times.
    let largest = 0;
    for (let round = 0; round < 3 && largest <= 1; round++) {
      const emails = Array.from({ length: 20 }, (_, i) => `r${round}-${i}@example.com`);
      const replies = await insertAll(emails);
      const ids = new Set<bigint>();
      replies.forEach((reply, i) => {
        const { id, batchSize } = own(reply, emails[i], i);
        ids.add(id);
        largest = Math.max(largest, batchSize);
      });
      assert.equal(ids.size, 20, "each row its own id");
      const { rows } = await client.postgres.query<{ n: bigint }>(`select count(*) as n from ${t} where email like $1`, [`r${round}-%`]);
      assert.equal(rows[0].n, 20n);
    }
    assert.ok(largest > 1, "no inserts were merged");

    // One conflicting row among them: only its caller fails.
    await client.postgres.insert(t, { email: "taken@example.com", n: -1 });
    const emails = Array.from({ length: 20 }, (_, i) => (i === 7 ? "taken@example.com" : `c-${i}@example.com`));
    const replies = await insertAll(emails);
    replies.forEach((reply, i) => {
      if (i !== 7) {
        own(reply, emails[i], i);
        return;
      }
      assert.equal(reply.status, "rejected");
      const e = (reply as PromiseRejectedResult).reason;
      assert.ok(e instanceof AttacheError, String(e));
      assert.equal(e.code, "already_exists");
      assert.equal(e.sqlstate, "23505");
      assert.equal(e.constraint, `${t}_email_key`);
    });
    const { rows } = await client.postgres.query<{ n: bigint }>(`select count(*) as n from ${t} where email like 'c-%'`);
    assert.equal(rows[0].n, 19n);
  });

  test("insert: onConflict, returning and typed values", async () => {
    const t = `${table}_ins`;
    const skipped = await client.postgres.insert(t, { email: "taken@example.com", n: 1 }, { onConflict: { action: "nothing" }, returning: ["id"] });
    assert.deepEqual(skipped, { inserted: false, row: undefined, batchSize: skipped.batchSize });
    const updated = await client.postgres.insert(
      t,
      { email: "taken@example.com", n: 42, meta: typed([1, "two"], "jsonb") },
      { onConflict: { action: "update", target: ["email"], update: ["n", "meta"] }, returning: ["*"], int8: "string" },
    );
    assert.equal(updated.inserted, true);
    assert.equal(typeof updated.row?.id, "string", "int8: string applies to the returned row");
    assert.deepEqual({ ...updated.row, id: undefined }, { id: undefined, email: "taken@example.com", n: 42, meta: [1, "two"] });
    const plain = await client.postgres.insert(t, { email: "plain@example.com", n: null });
    assert.equal(plain.inserted, true);
    assert.equal(plain.row, undefined, "nothing asked back");
    assert.deepEqual((await client.postgres.query(`select n, meta from ${t} where email = $1`, ["plain@example.com"])).rows, [{ n: null, meta: null }]);
    await assert.rejects(client.postgres.insert(t, { nope: 1 }), { code: "invalid_argument" });
    await assert.rejects(
      client.postgres.insert(t, { email: "x@example.com" }, { onConflict: { action: "replace" as "nothing" } }),
      (e) => e instanceof AttacheError && e.code === "invalid_argument" && /onConflict/.test(e.message),
    );
  });

  test("getOrLoad keeps a result in Redis: a miss, then a hit, until a write through attache", async () => {
    // This describe's sidecar has no Redis: start one that has both.
    const redisDir = mkdtempSync(join(tmpdir(), "attache-node-redis-"));
    const redisUrl = execFileSync(join(redisScripts, "start"), [redisDir], { encoding: "utf8" }).trim();
    const both = await startSidecar({ ATTACHE_POSTGRES_URL: url, ATTACHE_REDIS_URL: redisUrl });
    const withRedis = new Attache({ socket: both.socket });
    try {
      await client.postgres.query(`insert into ${table} (id, email, name) values ($1, $2, $3)`, [600, "loaded@example.com", "pen"]);
      const key = `${table}:item:600`;
      const load = () => withRedis.postgres.getOrLoad<{ name: string }>(key, `select name from ${table} where id = $1`, [600], { ttlMs: 60_000 });
      let first;
      for (let i = 0; ; i++) {
        try {
          first = await load();
          break;
        } catch (err) {
          // The new sidecar's first connections (Postgres, Redis) may take a moment.
          if (i > 200 || !(err instanceof AttacheError) || err.code !== "unavailable") throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.deepEqual(first.rows, [{ name: "pen" }]);
      assert.deepEqual(first.columns.map((c) => c.name), ["name"]);
      assert.deepEqual(first.cache, { status: "miss", reason: "", ageMs: 0 });
      const second = await load();
      assert.deepEqual(second.rows, [{ name: "pen" }]);
      assert.equal(second.cache.status, "hit", JSON.stringify(second.cache));
      await withRedis.postgres.query(`update ${table} set name = $1 where id = $2`, ["ink", 600]);
      const third = await load();
      assert.deepEqual(third.rows, [{ name: "ink" }]);
      assert.equal(third.cache.status, "miss", JSON.stringify(third.cache));
      assert.equal((await load()).cache.status, "hit");
    } finally {
      withRedis.close();
      assert.equal(await both.stop(), 0);
      execFileSync(join(redisScripts, "stop"), [redisDir]);
    }
  });

  test("getOrLoad on a sidecar without Redis is failed_precondition", async () => {
    await assert.rejects(client.postgres.getOrLoad("k", "select 1", [], { ttlMs: 1000 }), (e: unknown) => {
      assert.ok(e instanceof AttacheError);
      assert.equal(e.code, "failed_precondition");
      assert.match(e.message, /ATTACHE_REDIS_URL/);
      return true;
    });
  });
});

describe("postgres without a database", () => {
  test("calls fail with failed_precondition", async () => {
    const sidecar = await startSidecar();
    const client = new Attache({ socket: sidecar.socket });
    try {
      await assert.rejects(client.postgres.query("select 1"), (e) => e instanceof AttacheError && e.code === "failed_precondition" && e.metadata !== undefined);
    } finally {
      client.close();
      assert.equal(await sidecar.stop(), 0);
    }
  });
});

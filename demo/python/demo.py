"""The Python part of the demo: signs up a second user. It verifies the
hash the Node app made, reads through the shared Redis cache the name the
PHP app wrote, registers that name in Postgres (into the table the Node app
filled), and reads the new user back with a cached query, the one the Go
app then gets from the cache. Exits 1 when what the earlier apps did is not
what it finds."""

import os
import sys
import time
from typing import NoReturn

import attache


def say(line: str) -> None:
    print(f"[python] {line}", flush=True)


def fail(line: str) -> NoReturn:
    sys.exit(f"[python] FAILED: {line}")


def ms(t: float) -> str:
    return f"{(time.perf_counter() - t) * 1000:.1f} ms"


client = attache.Client()

node_hash = os.environ.get("DEMO_HASH") or fail("set DEMO_HASH")
v = client.password.verify("correct horse battery staple", node_hash)
say(f"verify(node's hash)  -> valid={v.valid} needs_rehash={v.needs_rehash}")
if not v.valid or v.needs_rehash:
    fail("the Node app's hash does not verify as a current one")

# PHP's set() made Redis invalidate the value the Node app cached; the
# invalidation reaches the sidecar asynchronously, so give it a moment.
t = time.perf_counter()
read = client.redis.do_cached("GET", "demo:user:42:name")
for _ in range(50):
    if read.value == b"Grace":
        break
    time.sleep(0.01)
    read = client.redis.do_cached("GET", "demo:user:42:name")
name = read.value.decode() if isinstance(read.value, bytes) else repr(read.value)
say(f"redis do_cached(GET) -> {name} (cache hit: {read.cache_hit}, {ms(t)}; PHP's write replaced Node's Ada)")
if name != "Grace":
    fail(f"expected the name the PHP app wrote, Grace, got {name}")

t = time.perf_counter()
new = client.postgres.insert("demo_users", {"email": "grace@example.com", "name": name}, returning=["id"])
assert new.row is not None
say(f"postgres insert()    -> {name} as user {new.row['id']} in Node's demo_users ({ms(t)})")

# The Go app runs this very statement: the sidecar answers it from the
# result cached here.
t = time.perf_counter()
r = client.postgres.query(
    "select id, name, (select count(*) from demo_users) as users from demo_users where email = $1",
    ["grace@example.com"],
    cache_ttl=60,
)
if not r.rows or r.rows[0]["id"] != new.row["id"]:
    fail(f"expected user {new.row['id']} back, got {r.rows}")
say(f"postgres query(cache_ttl) -> {r.rows[0]['name']}, id {r.rows[0]['id']}, one of {r.rows[0]['users']} users (cache {r.cache.status}, {ms(t)})")
client.close()

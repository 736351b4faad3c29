//! What each command is, as far as routing and caching care: cacheable
//! reads (and the keys their replies depend on), blocking commands,
//! transaction boundaries, and commands that would change the state of a
//! shared connection.

use bytes::Bytes;

use crate::Error;

/// How a command must be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// On the shared pipelined connections.
    Shared,
    /// On a connection of its own: it blocks, or is part of a transaction.
    Dedicated,
}

/// The command's name, upper-cased, or an error for empty args.
pub fn name(args: &[Bytes]) -> Result<String, Error> {
    let first = args.first().ok_or(Error::EmptyCommand)?;
    if first.is_empty() {
        return Err(Error::EmptyCommand);
    }
    Ok(String::from_utf8_lossy(first).to_ascii_uppercase())
}

/// Where a single command (`Do`) runs, or why it cannot.
pub fn route(args: &[Bytes]) -> Result<Route, Error> {
    let name = name(args)?;
    refuse_connection_state(&name, args)?;
    if matches!(name.as_str(), "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH") {
        return Err(Error::Refused {
            command: name,
            reason: "transactions span several commands; send MULTI ... EXEC (and any WATCH) together in one DoMulti",
        });
    }
    Ok(if is_blocking(&name, args) { Route::Dedicated } else { Route::Shared })
}

/// Where a group of commands (`DoMulti`) runs, or why it cannot.
pub fn route_group(commands: &[Vec<Bytes>]) -> Result<Route, Error> {
    let mut route = Route::Shared;
    let mut open = 0i32;
    // WATCH state outlives the call on a reused dedicated connection unless
    // an EXEC or DISCARD (or UNWATCH) clears it.
    let mut watching = false;
    for args in commands {
        let name = name(args)?;
        refuse_connection_state(&name, args)?;
        match name.as_str() {
            "MULTI" => {
                if open > 0 {
                    return Err(Error::InvalidArgument("MULTI calls can not be nested".into()));
                }
                open += 1;
                route = Route::Dedicated;
            }
            "EXEC" | "DISCARD" => {
                if open == 0 {
                    return Err(Error::InvalidArgument(format!("{name} without MULTI")));
                }
                open -= 1;
                watching = false;
            }
            "WATCH" => {
                watching = true;
                route = Route::Dedicated;
            }
            "UNWATCH" => {
                watching = false;
                route = Route::Dedicated;
            }
            _ if is_blocking(&name, args) => route = Route::Dedicated,
            _ => {}
        }
    }
    if open != 0 {
        return Err(Error::InvalidArgument("MULTI without EXEC or DISCARD in the same DoMulti".into()));
    }
    if watching {
        return Err(Error::InvalidArgument(
            "WATCH must be followed by MULTI ... EXEC (or UNWATCH) in the same DoMulti".into(),
        ));
    }
    Ok(route)
}

fn refuse_connection_state(name: &str, args: &[Bytes]) -> Result<(), Error> {
    let reason = match name {
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" => {
            "use the Subscribe RPC, which shares one subscription among all subscribers"
        }
        "SELECT" => "the database is chosen in redis.url (redis://host:port/DB)",
        "AUTH" | "HELLO" => "credentials are given in redis.url",
        "MONITOR" | "SYNC" | "PSYNC" | "REPLCONF" => "it takes over the connection",
        "RESET" | "QUIT" | "READONLY" | "READWRITE" => "it changes the state of a connection shared by every caller",
        "CLIENT" => {
            let sub = args.get(1).map(|s| String::from_utf8_lossy(s).to_ascii_uppercase()).unwrap_or_default();
            match sub.as_str() {
                "TRACKING" | "REPLY" | "CACHING" | "SETNAME" | "SETINFO" | "NO-EVICT" | "NO-TOUCH" => {
                    "it changes the state of a connection shared by every caller"
                }
                _ => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    Err(Error::Refused { command: name.to_string(), reason })
}

fn is_blocking(name: &str, args: &[Bytes]) -> bool {
    match name {
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX" | "BZMPOP" | "WAIT"
        | "WAITAOF" => true,
        "XREAD" | "XREADGROUP" => args.iter().skip(1).any(|a| a.eq_ignore_ascii_case(b"BLOCK")),
        _ => false,
    }
}

/// The keys a cacheable read depends on, or `NotCacheable`.
pub fn cached_keys(args: &[Bytes]) -> Result<Vec<Bytes>, Error> {
    let name = name(args)?;
    let single = matches!(
        name.as_str(),
        "GET"
            | "STRLEN"
            | "GETRANGE"
            | "SUBSTR"
            | "TYPE"
            | "HGET"
            | "HMGET"
            | "HGETALL"
            | "HKEYS"
            | "HVALS"
            | "HLEN"
            | "HEXISTS"
            | "HSTRLEN"
            | "SMEMBERS"
            | "SISMEMBER"
            | "SMISMEMBER"
            | "SCARD"
            | "ZRANGE"
            | "ZRANGEBYSCORE"
            | "ZRANGEBYLEX"
            | "ZREVRANGE"
            | "ZREVRANGEBYSCORE"
            | "ZREVRANGEBYLEX"
            | "ZSCORE"
            | "ZMSCORE"
            | "ZCARD"
            | "ZCOUNT"
            | "ZLEXCOUNT"
            | "ZRANK"
            | "ZREVRANK"
            | "LRANGE"
            | "LLEN"
            | "LINDEX"
            | "LPOS"
            | "GETBIT"
            | "BITCOUNT"
            | "BITPOS"
            | "GEOPOS"
            | "GEODIST"
            | "GEOHASH"
    );
    let keys = if single {
        args.get(1).cloned().into_iter().collect::<Vec<_>>()
    } else if matches!(name.as_str(), "MGET" | "EXISTS") {
        args[1..].to_vec()
    } else {
        return Err(Error::NotCacheable(name));
    };
    if keys.is_empty() {
        return Err(Error::InvalidArgument(format!("{name} needs a key")));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn routes_single_commands() {
        assert_eq!(route(&args(&["get", "k"])).unwrap(), Route::Shared);
        assert_eq!(route(&args(&["BLPOP", "q", "0"])).unwrap(), Route::Dedicated);
        assert_eq!(route(&args(&["XREAD", "block", "0", "STREAMS", "s", "$"])).unwrap(), Route::Dedicated);
        assert_eq!(route(&args(&["XREAD", "STREAMS", "s", "0"])).unwrap(), Route::Shared);
        assert_eq!(route(&[]).unwrap_err(), Error::EmptyCommand);
        assert!(matches!(route(&args(&["subscribe", "c"])), Err(Error::Refused { .. })));
        assert!(matches!(route(&args(&["MULTI"])), Err(Error::Refused { .. })));
        assert!(matches!(route(&args(&["CLIENT", "tracking", "off"])), Err(Error::Refused { .. })));
        assert_eq!(route(&args(&["CLIENT", "ID"])).unwrap(), Route::Shared);
    }

    #[test]
    fn routes_groups() {
        assert_eq!(route_group(&[args(&["SET", "a", "1"]), args(&["GET", "a"])]).unwrap(), Route::Shared);
        let tx = [args(&["WATCH", "a"]), args(&["MULTI"]), args(&["INCR", "a"]), args(&["EXEC"])];
        assert_eq!(route_group(&tx).unwrap(), Route::Dedicated);
        assert!(route_group(&[args(&["MULTI"]), args(&["INCR", "a"])]).is_err());
        assert!(route_group(&[args(&["EXEC"])]).is_err());
        assert!(route_group(&[args(&["MULTI"]), args(&["MULTI"])]).is_err());
        assert!(route_group(&[args(&["WATCH", "a"]), args(&["GET", "a"])]).is_err());
        assert!(route_group(&[args(&["WATCH", "a"]), args(&["UNWATCH"])]).is_ok());
    }

    #[test]
    fn finds_keys_of_cacheable_reads() {
        assert_eq!(cached_keys(&args(&["hget", "h", "f"])).unwrap(), args(&["h"]));
        assert_eq!(cached_keys(&args(&["MGET", "a", "b"])).unwrap(), args(&["a", "b"]));
        assert_eq!(cached_keys(&args(&["SET", "a", "b"])).unwrap_err(), Error::NotCacheable("SET".into()));
        assert!(matches!(cached_keys(&args(&["GET"])), Err(Error::InvalidArgument(_))));
    }
}

//! What a statement would do to the pooled connection it runs on, read
//! from its words (outside strings, quoted identifiers and comments).
//!
//! The pool hands a connection to a different caller after every call, so a
//! statement that leaves session state behind (a session `SET`, `LISTEN`, a
//! temporary table, a session advisory lock) would leak into someone else's
//! queries, and transaction control outside Begin would leave a connection
//! inside a transaction. This is a classifier, not a parser: it only needs
//! the leading words and a few function names, and errs towards refusing.

/// How a statement may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Leaves nothing behind on the connection.
    Clean,
    /// Leaves session state: allowed only inside a transaction, after which
    /// the connection is reset. The string says what and why.
    Session(&'static str),
    /// Never allowed through Query; the string says what to use instead.
    Refused(&'static str),
}

/// The words of `sql` outside strings and comments, as written (compare
/// with `eq_ignore_ascii_case`), with `(` kept as a word so function calls
/// can be recognised. Borrows from `sql`; allocates nothing.
struct Words<'a> {
    sql: &'a str,
    at: usize,
}

fn words(sql: &str) -> Words<'_> {
    Words { sql, at: 0 }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (sql, b) = (self.sql, self.sql.as_bytes());
        let mut i = self.at;
        while i < b.len() {
            let c = b[i];
            match c {
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let mut depth = 0;
                    while i < b.len() {
                        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                            depth += 1;
                            i += 2;
                        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        } else {
                            i += 1;
                        }
                    }
                }
                b'\'' | b'"' => {
                    i += 1;
                    while i < b.len() {
                        if b[i] == c {
                            if b.get(i + 1) == Some(&c) {
                                i += 2;
                                continue;
                            }
                            break;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                b'$' => {
                    // A dollar-quoted string: $$...$$ or $tag$...$tag$.
                    let end = b[i + 1..].iter().position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'));
                    match end.map(|e| i + 1 + e) {
                        Some(close) if b[close] == b'$' => {
                            let tag = &sql[i..=close];
                            match sql[close + 1..].find(tag) {
                                Some(at) => i = close + 1 + at + tag.len(),
                                None => i = b.len(),
                            }
                        }
                        _ => i += 1, // a parameter such as $1
                    }
                }
                b'(' => {
                    self.at = i + 1;
                    return Some("(");
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                        i += 1;
                    }
                    self.at = i;
                    return Some(&sql[start..i]);
                }
                _ => i += 1,
            }
        }
        self.at = b.len();
        None
    }
}

const TRANSACTION_CONTROL: &str = "transaction control is not allowed in a statement: a pooled connection must \
     not be left inside a transaction. Use Begin/Commit/Rollback, or Execute with transactional = true";

pub(crate) fn effect(sql: &str) -> Effect {
    // The leading words decide most cases; lowercase only those.
    let head: Vec<String> = words(sql).take(4).map(str::to_ascii_lowercase).collect();
    let word = |i: usize| head.get(i).map(String::as_str).unwrap_or("");
    match word(0) {
        "begin" | "start" | "commit" | "end" | "rollback" | "abort" | "savepoint" | "release" => {
            return Effect::Refused(TRANSACTION_CONTROL);
        }
        "prepare" | "deallocate" | "discard" | "execute" => {
            return Effect::Refused(
                "PREPARE, EXECUTE, DEALLOCATE and DISCARD manage session state the pool owns; attache already \
                 prepares and caches every statement per connection, so send the statement itself with parameters",
            );
        }
        "copy" => {
            return Effect::Refused("COPY is not supported through Query; insert rows with parameters instead");
        }
        "listen" | "unlisten" => {
            return Effect::Refused(
                "LISTEN would subscribe a pooled connection that other callers reuse; notifications cannot reach you \
                 through Query",
            );
        }
        "set" if matches!(word(1), "local" | "transaction" | "constraints") => {}
        "set" | "reset" => {
            return Effect::Session(
                "a session-level SET would leak to the next caller of this pooled connection; use SET LOCAL inside a \
                 transaction (Begin, or Execute with transactional = true)",
            );
        }
        "load" => return Effect::Refused("LOAD changes a pooled connection for every later caller"),
        "create" if head.iter().any(|w| w == "temp" || w == "temporary") => {
            return Effect::Session(
                "a temporary object would outlive this call on a pooled connection; create it inside a transaction \
                 (it is dropped when the transaction ends)",
            );
        }
        "declare" if words(sql).any(|w| w.eq_ignore_ascii_case("hold")) => {
            return Effect::Session("a WITH HOLD cursor would outlive this call on a pooled connection");
        }
        _ => {}
    }
    // Functions called anywhere: a name followed by `(`.
    let mut called = Vec::new();
    let mut previous = "";
    for word in words(sql) {
        if word == "(" && !previous.is_empty() && previous != "(" {
            called.push(previous);
        }
        previous = word;
    }
    let calls = |name: &str| called.iter().any(|f| f.eq_ignore_ascii_case(name));
    if ["pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared"]
        .iter()
        .any(|f| calls(f))
    {
        return Effect::Session(
            "a session advisory lock would stay held on a pooled connection after this call; use \
             pg_advisory_xact_lock inside a transaction",
        );
    }
    if calls("set_config") {
        return Effect::Session(
            "set_config could change the session for the next caller of this pooled connection; call it with \
             is_local = true inside a transaction",
        );
    }
    Effect::Clean
}

/// Keywords that may stand before `(` without being a function call.
const NOT_FUNCTIONS: &[&str] = &[
    "as", "in", "exists", "any", "all", "some", "values", "over", "filter", "within", "using", "on", "and", "or",
    "not", "from", "where", "join", "select", "with", "lateral", "by", "when", "then", "else", "is", "array", "row",
];

/// Whether identical concurrent runs of `sql` may share one result: a
/// plain read (SELECT, VALUES, TABLE, or WITH around them) with no locking
/// clause, no `INTO`, and no data-modifying CTE. On success, the functions
/// it calls (lowercased), whose volatility the caller still has to check:
/// two callers of `nextval` must not get the same value.
pub(crate) fn shareable(sql: &str) -> Result<Vec<String>, &'static str> {
    let first = words(sql).find(|w| *w != "(").unwrap_or("");
    if !["select", "values", "table", "with"].iter().any(|v| first.eq_ignore_ascii_case(v)) {
        return Err("not a read");
    }
    let mut previous = "";
    for word in words(sql) {
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if is("into") {
            return Err("SELECT INTO writes a table");
        }
        if ["insert", "update", "delete", "merge"].iter().any(|w| is(w)) {
            // FOR UPDATE / FOR NO KEY UPDATE, or a data-modifying CTE.
            return Err(if previous.eq_ignore_ascii_case("for") || previous.eq_ignore_ascii_case("key") {
                "a locking clause"
            } else {
                "a data-modifying statement"
            });
        }
        if is("share") && (previous.eq_ignore_ascii_case("for") || previous.eq_ignore_ascii_case("key")) {
            return Err("a locking clause");
        }
        previous = word;
    }
    called_functions(sql)
}

/// Whether `sql` may change a setting (search_path above all) that the
/// statements after it in a transaction are resolved under: any SET, or a
/// call of set_config.
pub(crate) fn changes_settings(sql: &str) -> bool {
    let first = words(sql).find(|w| *w != "(").unwrap_or("");
    let set_config = match called_functions(sql) {
        Ok(functions) => functions.iter().any(|f| f == "set_config"),
        Err(_) => true,
    };
    first.eq_ignore_ascii_case("set") || set_config
}

/// The functions `sql` calls, lowercased and deduplicated; an error if it
/// calls one by a quoted name (which would hide it from a catalog check).
pub(crate) fn called_functions(sql: &str) -> Result<Vec<String>, &'static str> {
    let b = sql.as_bytes();
    if b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'"' && b[i + 1..].iter().find(|x| !x.is_ascii_whitespace()) == Some(&b'('))
    {
        return Err("calls a function by a quoted name");
    }
    let mut functions = Vec::new();
    let mut previous = "";
    for word in words(sql) {
        if word == "("
            && !previous.is_empty()
            && previous != "("
            && !NOT_FUNCTIONS.iter().any(|k| previous.eq_ignore_ascii_case(k))
        {
            functions.push(previous.to_ascii_lowercase());
        }
        previous = word;
    }
    functions.sort();
    functions.dedup();
    Ok(functions)
}

/// The command tag Postgres would report, from the statement's first word
/// and the rows it affected (the driver exposes the count, not the tag).
pub(crate) fn command_tag(sql: &str, rows: u64) -> String {
    let mut verb = words(sql).find(|w| *w != "(").unwrap_or("").to_ascii_uppercase();
    if verb == "WITH" {
        // The command is the first one after the CTEs.
        verb = words(sql)
            .filter(|w| ["select", "insert", "update", "delete", "merge"].iter().any(|v| w.eq_ignore_ascii_case(v)))
            .last()
            .map(str::to_ascii_uppercase)
            .unwrap_or_else(|| "SELECT".into());
    }
    match verb.as_str() {
        "INSERT" => format!("INSERT 0 {rows}"),
        "SELECT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "VALUES" | "TABLE" => {
            let verb = if matches!(verb.as_str(), "VALUES" | "TABLE") { "SELECT" } else { &verb };
            format!("{verb} {rows}")
        }
        "" => String::new(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_is_found_outside_strings_and_comments() {
        assert_eq!(effect("select 1"), Effect::Clean);
        assert_eq!(effect("SELECT 'set x = 1; listen y' -- begin\n"), Effect::Clean);
        assert_eq!(effect("select $$ pg_advisory_lock( $$"), Effect::Clean);
        assert_eq!(effect(r#"select "pg_advisory_lock" from t"#), Effect::Clean);
        assert!(matches!(effect("/* hi */ SET search_path = x"), Effect::Session(_)));
        assert!(matches!(effect("set session work_mem = '1MB'"), Effect::Session(_)));
        assert_eq!(effect("SET LOCAL work_mem = '1MB'"), Effect::Clean);
        assert!(matches!(effect("RESET ALL"), Effect::Session(_)));
        assert!(matches!(effect("listen ch"), Effect::Refused(_)));
        assert!(matches!(effect("BEGIN"), Effect::Refused(_)));
        assert!(matches!(effect("commit"), Effect::Refused(_)));
        assert!(matches!(effect("PREPARE p AS select 1"), Effect::Refused(_)));
        assert!(matches!(effect("create temp table t (a int)"), Effect::Session(_)));
        assert!(matches!(effect("CREATE GLOBAL TEMPORARY TABLE t (a int)"), Effect::Session(_)));
        assert_eq!(
            effect("create table temp (a int)"),
            Effect::Session(
                "a temporary object would outlive this call on a pooled connection; create it inside a transaction (it is dropped when the transaction ends)"
            ),
            "a table named temp errs towards refusing"
        );
        assert!(matches!(effect("select pg_advisory_lock(1)"), Effect::Session(_)));
        assert_eq!(effect("select pg_advisory_xact_lock(1)"), Effect::Clean);
        assert!(matches!(effect("select set_config('a.b', '1', false)"), Effect::Session(_)));
    }

    #[test]
    fn only_plain_reads_are_shared() {
        assert_eq!(shareable("select a, lower(b) from t where c = any($1)"), Ok(vec!["lower".into()]));
        assert_eq!(shareable("WITH x AS (SELECT 1) SELECT * FROM x"), Ok(vec![]));
        assert_eq!(shareable("select 'insert into' from t"), Ok(vec![]));
        assert!(shareable("select * from t for update").is_err());
        assert!(shareable("select * from t for no key update").is_err());
        assert!(shareable("select * from t for key share").is_err());
        assert!(shareable("with d as (delete from t returning *) select * from d").is_err());
        assert!(shareable("select * into t2 from t").is_err());
        assert!(shareable("update t set a = 1").is_err());
        assert_eq!(shareable("select nextval('s')"), Ok(vec!["nextval".into()]));
        assert!(changes_settings("SET LOCAL search_path = app"));
        assert!(changes_settings("select set_config('search_path', 'app', true)"));
        assert!(!changes_settings("update t set a = 1"));
        assert!(shareable(r#"select "nextval"('s')"#).is_err());
    }

    #[test]
    fn command_tags_follow_postgres() {
        assert_eq!(command_tag("select * from t", 3), "SELECT 3");
        assert_eq!(command_tag("insert into t values (1)", 1), "INSERT 0 1");
        assert_eq!(command_tag("with x as (select 1) update t set a = 1", 2), "UPDATE 2");
        assert_eq!(command_tag("(select 1)", 1), "SELECT 1");
        assert_eq!(command_tag("create table t (a int)", 0), "CREATE");
    }
}

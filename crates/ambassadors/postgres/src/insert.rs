//! Merged inserts: single-row `Insert` calls of the same shape arriving
//! together, from any caller, become one statement.
//!
//! Key decision: no flush timer. The first row of a shape starts a batch
//! at once; rows that arrive while it runs wait for it and go together in
//! the next one (as group commit does), so a caller alone pays one plain
//! round trip and many callers share one. A batch is
//! `INSERT … SELECT … FROM unnest($1::t1[], …) WITH ORDINALITY … ORDER BY
//! ord … RETURNING …`: one parameter per column whatever the row count.
//! Its RETURNING rows come back in the order the executor inserted them,
//! which is the ORDER BY's; their count is checked against the rows sent.
//! If the batch fails, its rows are re-run each as its own statement,
//! pipelined on one connection with a Sync after each, so only the bad
//! row's caller sees the error. With ON CONFLICT DO NOTHING a skipped row
//! returns nothing, so such a batch runs inside a transaction that is
//! rolled back (and re-run row by row) if any row was skipped.
//!
//! What merging changes, documented for users: statement-level triggers
//! fire once per batch, `now()` is the batch's, and sequence values of
//! rows in one batch follow the batch's order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::Error;
use crate::service::{Column, Inner, Param, QueryOptions, QueryResult};
use crate::value::{self, Value};

/// What to do when a row conflicts with a unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OnConflict {
    /// The caller gets ALREADY_EXISTS.
    #[default]
    Error,
    /// The row is skipped; the caller learns it was not inserted.
    DoNothing { target: Vec<String> },
    /// The existing row's `set` columns take the new row's values.
    DoUpdate { target: Vec<String>, set: Vec<String> },
}

/// What makes inserts mergeable: the same table, columns, conflict
/// handling and returning list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    /// `table` or `schema.table`, names used exactly as given.
    pub table: String,
    pub columns: Vec<String>,
    pub on_conflict: OnConflict,
    /// Columns to return; `*` for all.
    pub returning: Vec<String>,
}

/// One caller's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// False when ON CONFLICT DO NOTHING skipped the row.
    pub inserted: bool,
    pub columns: Vec<Column>,
    /// The RETURNING values (empty when nothing is returned).
    pub row: Vec<Value>,
    /// Rows in the statement that carried this one.
    pub batch: usize,
}

struct Pending {
    values: Vec<Param>,
    reply: oneshot::Sender<Result<Inserted, Error>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    running: bool,
}

/// The statements a shape runs as, and whether its columns can go
/// through unnest (an array column cannot: unnest flattens it).
struct Plan {
    merged: Option<String>,
    single: String,
}

#[derive(Default)]
pub(crate) struct Inserts {
    queues: Mutex<HashMap<Arc<Shape>, Queue>>,
    plans: Mutex<HashMap<Arc<Shape>, Arc<Plan>>>,
}

impl Inserts {
    pub fn forget_plans(&self) {
        self.plans.lock().expect("inserts lock").clear();
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` or `table`, each part quoted.
fn quote_table(table: &str) -> String {
    table.splitn(2, '.').map(quote).collect::<Vec<_>>().join(".")
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ")
}

impl Shape {
    fn check(&self, values: usize) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidArgument(what));
        if self.table.is_empty() {
            return bad("Insert needs a table".into());
        }
        if self.columns.is_empty() {
            return bad("Insert needs at least one column".into());
        }
        if values != self.columns.len() {
            return bad(format!("{} columns but {values} values; give one value per column", self.columns.len()));
        }
        let names = self.columns.iter().chain(&self.returning).chain(match &self.on_conflict {
            OnConflict::Error => [].iter(),
            OnConflict::DoNothing { target } => target.iter(),
            OnConflict::DoUpdate { target, set } => {
                if target.is_empty() || set.is_empty() {
                    return bad("ON CONFLICT DO UPDATE needs conflict target columns and columns to set".into());
                }
                return self.check_names(self.columns.iter().chain(&self.returning).chain(target).chain(set));
            }
        });
        self.check_names(names)
    }

    fn check_names<'a>(&self, mut names: impl Iterator<Item = &'a String>) -> Result<(), Error> {
        match names.find(|n| n.is_empty() || n.contains('\0')) {
            Some(_) => Err(Error::InvalidArgument("a column name is empty or holds a NUL".into())),
            None => Ok(()),
        }
    }

    fn conflict_sql(&self) -> String {
        match &self.on_conflict {
            OnConflict::Error => String::new(),
            OnConflict::DoNothing { target } if target.is_empty() => " ON CONFLICT DO NOTHING".into(),
            OnConflict::DoNothing { target } => format!(" ON CONFLICT ({}) DO NOTHING", list(target)),
            OnConflict::DoUpdate { target, set } => format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                list(target),
                set.iter().map(|c| format!("{0} = EXCLUDED.{0}", quote(c))).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn returning_sql(&self) -> String {
        match self.returning.as_slice() {
            [] if matches!(self.on_conflict, OnConflict::DoNothing { .. }) => " RETURNING 1".into(),
            [] => String::new(),
            [star] if star == "*" => " RETURNING *".into(),
            columns => format!(" RETURNING {}", list(columns)),
        }
    }
}

/// Parameter text one batch may carry (besides `insert.max_batch` rows).
const MAX_BATCH_BYTES: usize = 8 << 20;

impl Inner {
    /// Inserts one row, merged with rows of the same shape that arrive
    /// while an earlier batch runs.
    pub(crate) async fn insert(
        self: &Arc<Self>,
        shape: Shape,
        values: Vec<Param>,
        deadline: Instant,
    ) -> Result<Inserted, Error> {
        shape.check(values.len())?;
        for (i, p) in values.iter().enumerate() {
            value::to_text(&p.value).map_err(|e| Error::InvalidArgument(format!("value {}: {e}", i + 1)))?;
        }
        let shape = Arc::new(shape);
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.inserts.queues.lock().expect("inserts lock");
            let queue = queues.entry(shape.clone()).or_default();
            queue.pending.push(Pending { values, reply });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            // The batch is everyone's: it runs on its own task, so a caller
            // who leaves does not take the others' rows with it.
            tokio::spawn(self.clone().drain(shape));
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Internal("the insert batch ended without an answer".into())),
            Err(_) => Err(Error::Deadline("while the insert waited for its batch")),
        }
    }

    /// Runs batches of `shape` until none is waiting.
    async fn drain(self: Arc<Self>, shape: Arc<Shape>) {
        if !self.config.insert.max_wait.is_zero() {
            tokio::time::sleep(self.config.insert.max_wait).await;
        }
        loop {
            let batch = {
                let mut queues = self.inserts.queues.lock().expect("inserts lock");
                let queue = queues.get_mut(&shape).expect("a running queue stays");
                // Callers who already left are not inserted.
                queue.pending.retain(|p| !p.reply.is_closed());
                if queue.pending.is_empty() {
                    queues.remove(&shape);
                    return;
                }
                let mut bytes = 0;
                let mut take = 0;
                for p in &queue.pending {
                    bytes += p
                        .values
                        .iter()
                        .map(|v| value::to_text(&v.value).ok().flatten().map_or(0, |t| t.len()))
                        .sum::<usize>();
                    if take > 0 && (take >= self.config.insert.max_batch || bytes > MAX_BATCH_BYTES) {
                        break;
                    }
                    take += 1;
                }
                queue.pending.drain(..take).collect::<Vec<_>>()
            };
            let deadline = Instant::now() + self.config.statement_timeout;
            let (values, replies): (Vec<Vec<Param>>, Vec<_>) = batch.into_iter().map(|p| (p.values, p.reply)).unzip();
            let results = self.insert_batch(&shape, &values, deadline).await;
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
    }

    /// One result per row, in order.
    async fn insert_batch(
        &self,
        shape: &Arc<Shape>,
        rows: &[Vec<Param>],
        deadline: Instant,
    ) -> Vec<Result<Inserted, Error>> {
        let all = |e: Error| rows.iter().map(|_| Err(e.clone())).collect();
        let plan = match self.insert_plan(shape, deadline).await {
            Ok(plan) => plan,
            Err(e) => return all(e),
        };
        let merged = match &plan.merged {
            Some(sql) if rows.len() > 1 => Some(sql),
            _ => None,
        };
        let mut lease = match self.pool.lease(deadline).await {
            Ok(lease) => lease,
            Err(e) => return all(e),
        };
        let work = async {
            let conn = lease.conn();
            if let Some(sql) = merged {
                match self.run_merged(conn, shape, sql, rows).await {
                    Ok(Some(done)) => return Ok(done),
                    Ok(None) => {}
                    Err(Error::Database(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(self.run_each(conn, shape, &plan.single, rows).await)
        };
        let ran = tokio::time::timeout_at(deadline, work).await;
        let statement = merged.unwrap_or(&plan.single);
        let results = match crate::service::finish(lease, ran, &self.metrics.cancelled) {
            Ok(results) => results,
            Err(e) => all(e),
        };
        let failed_all = results.iter().all(Result::is_err);
        // Nothing was written only if the database refused every row.
        let refused = results.iter().all(|r| matches!(r, Err(Error::Database(_))));
        let error = results.first().and_then(|r| r.as_ref().err()).filter(|_| refused);
        self.after_writes([(statement.as_str(), shape.columns.len())], error).await;
        if failed_all {
            // The table may have changed under a remembered plan.
            self.inserts.plans.lock().expect("inserts lock").remove(shape);
        }
        self.metrics.inserted_rows.inc_by(rows.len() as u64);
        self.metrics.insert_batches.inc();
        results
    }

    /// The merged statement: `Ok(None)` when its outcome cannot be told
    /// row by row (a row was skipped or redirected) and it was rolled back.
    async fn run_merged(
        &self,
        conn: &mut crate::pool::Conn,
        shape: &Shape,
        sql: &str,
        rows: &[Vec<Param>],
    ) -> Result<Option<Vec<Result<Inserted, Error>>>, Error> {
        let columns: Vec<Param> = (0..shape.columns.len())
            .map(|c| {
                let elements: Vec<Value> = rows.iter().map(|r| r[c].value.clone()).collect();
                Param {
                    value: Value::Array(value::Array {
                        dimensions: vec![(elements.len() as i32, 1)],
                        elements,
                        element_oid: 0,
                    }),
                    type_name: None,
                }
            })
            .collect();
        // In a transaction, so a batch whose outcome cannot be told row by
        // row (DO NOTHING skipped a row, a trigger swallowed one, an
        // inheritance trigger redirected them) is undone and re-run row by
        // row rather than reported wrong.
        conn.client.batch_execute("BEGIN").await.map_err(|e| conn.error(e))?;
        let ran = self.run(conn, sql, &columns, QueryOptions::default()).await;
        let complete = matches!(&ran, Ok(r) if r.rows_affected as usize == rows.len());
        let end = if complete { "COMMIT" } else { "ROLLBACK" };
        conn.client.batch_execute(end).await.map_err(|e| conn.error(e))?;
        match ran {
            Ok(result) if complete => Ok(Some(answers(result, shape, rows.len()))),
            // Too large a RETURNING for one reply: each row's alone may fit.
            Ok(_) | Err(Error::TooLarge(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Each row as its own statement (so each reports a batch of one),
    /// pipelined: one round trip, a Sync after each, so one row's error is
    /// that row's alone.
    async fn run_each(
        &self,
        conn: &mut crate::pool::Conn,
        shape: &Shape,
        sql: &str,
        rows: &[Vec<Param>],
    ) -> Vec<Result<Inserted, Error>> {
        let statement = match conn.prepare(sql, &[]).await {
            Ok(statement) => statement,
            Err(e) => {
                let e = conn.error(e);
                return rows.iter().map(|_| Err(e.clone())).collect();
            }
        };
        let shared = &*conn;
        let runs = rows.iter().map(|row| self.read(shared, &statement, sql, row, QueryOptions::default()));
        let mut results = futures::future::join_all(runs).await;
        let mut answers_ = Vec::with_capacity(rows.len());
        for result in &mut results {
            if let Ok(result) = result
                && let Err(e) = self.fill_typed_texts(conn, &mut result.rows).await
            {
                return rows.iter().map(|_| Err(e.clone())).collect();
            }
        }
        for result in results {
            answers_.push(result.and_then(|result| {
                let inserted = result.rows_affected > 0;
                let mut one = answers(result, shape, 1).pop().expect("one answer")?;
                one.inserted = inserted;
                one.batch = 1;
                if !inserted {
                    one.row.clear();
                }
                Ok(one)
            }));
        }
        answers_
    }

    /// The statements for a shape, from the table's column types (asked of
    /// the catalog once per shape).
    async fn insert_plan(&self, shape: &Arc<Shape>, deadline: Instant) -> Result<Arc<Plan>, Error> {
        if let Some(plan) = self.inserts.plans.lock().expect("inserts lock").get(shape) {
            return Ok(plan.clone());
        }
        let names = Value::Array(value::Array {
            dimensions: vec![(shape.columns.len() as i32, 1)],
            elements: shape.columns.iter().map(|c| Value::Text(c.clone())).collect(),
            element_oid: 0,
        });
        let sql = "SELECT a.attname::text, format_type(a.atttypid, -1), t.typcategory = 'A' \
                   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                   WHERE a.attrelid = $1::regclass AND a.attname = ANY($2::text[]) AND a.attnum > 0 AND NOT a.attisdropped";
        let params = [
            Param { value: Value::Text(quote_table(&shape.table)), type_name: None },
            Param { value: names, type_name: None },
        ];
        let rows = self.run_pooled(sql, &params, QueryOptions::default(), deadline).await?.rows;
        let mut types = Vec::with_capacity(shape.columns.len());
        let mut arrays = false;
        for column in &shape.columns {
            let found =
                rows.iter().find(|r| matches!(r.first(), Some(Value::Text(name)) if name.as_str() == column.as_str()));
            match found.map(Vec::as_slice) {
                Some([_, Value::Text(ty), Value::Bool(array)]) => {
                    arrays |= array;
                    types.push(ty.clone());
                }
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "table {} has no column {column:?} (names are used exactly as given)",
                        shape.table
                    )));
                }
            }
        }
        let table = quote_table(&shape.table);
        let columns = list(&shape.columns);
        let tail = format!("{}{}", shape.conflict_sql(), shape.returning_sql());
        let placeholders: Vec<String> = types.iter().enumerate().map(|(i, t)| format!("${}::{t}", i + 1)).collect();
        let single = format!("INSERT INTO {table} ({columns}) VALUES ({}){tail}", placeholders.join(", "));
        let merged = (!arrays).then(|| {
            let unnest: Vec<String> = types.iter().enumerate().map(|(i, t)| format!("${}::{t}[]", i + 1)).collect();
            format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM unnest({}) WITH ORDINALITY AS u({columns}, attache_ord) \
                 ORDER BY attache_ord{tail}",
                unnest.join(", ")
            )
        });
        let plan = Arc::new(Plan { merged, single });
        let mut plans = self.inserts.plans.lock().expect("inserts lock");
        if plans.len() >= 1024 {
            plans.clear();
        }
        plans.insert(shape.clone(), plan.clone());
        Ok(plan)
    }
}

/// One answer per row from a statement's result, in order.
fn answers(result: QueryResult, shape: &Shape, rows: usize) -> Vec<Result<Inserted, Error>> {
    let returns = !shape.returning.is_empty();
    let columns = if returns { result.columns } else { Vec::new() };
    let mut returned = result.rows.into_iter();
    (0..rows)
        .map(|_| {
            let row = returned.next().filter(|_| returns).unwrap_or_default();
            Ok(Inserted { inserted: true, columns: columns.clone(), row, batch: rows })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_shapes_checked() {
        assert_eq!(quote_table("app.Users"), "\"app\".\"Users\"");
        assert_eq!(quote_table("we\"ird"), "\"we\"\"ird\"");
        let shape = Shape {
            table: "t".into(),
            columns: vec!["a".into(), "b".into()],
            on_conflict: OnConflict::DoUpdate { target: vec!["a".into()], set: vec!["b".into()] },
            returning: vec!["id".into()],
        };
        assert!(shape.check(2).is_ok());
        assert!(shape.check(1).is_err());
        assert_eq!(shape.conflict_sql(), " ON CONFLICT (\"a\") DO UPDATE SET \"b\" = EXCLUDED.\"b\"");
        assert_eq!(shape.returning_sql(), " RETURNING \"id\"");
        let nothing =
            Shape { on_conflict: OnConflict::DoNothing { target: vec![] }, returning: vec![], ..shape.clone() };
        assert_eq!(
            (nothing.conflict_sql().as_str(), nothing.returning_sql().as_str()),
            (" ON CONFLICT DO NOTHING", " RETURNING 1")
        );
        let empty = Shape { on_conflict: OnConflict::DoUpdate { target: vec![], set: vec![] }, ..shape };
        assert!(empty.check(2).is_err());
    }
}

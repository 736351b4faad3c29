//! What a statement reads and writes, as the database resolves it.
//!
//! Key decision: attache does not parse SQL to find tables. One
//! `EXPLAIN (VERBOSE, FORMAT JSON)` of the statement's generic plan per
//! distinct statement names the base relations with views, CTEs,
//! `search_path` and inlined SQL functions already resolved; the catalog
//! then maps each to the root of its partition tree, adds the tables a
//! write reaches through cascading foreign keys, and says whether a
//! trigger could write somewhere no plan shows. What the plan cannot
//! vouch for is not cached (a read) or flushes everything (a write).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::SimpleQueryMessage;

use crate::cache::{Table, Touched};
use crate::service::{Inner, Param, QueryOptions};
use crate::value::{self, Value};
use crate::{Error, sql};

/// What a read depends on.
#[derive(Debug, Clone)]
pub(crate) enum Reads {
    Tables(Arc<[Table]>),
    /// It cannot be cached, and why.
    Opaque(String),
}

/// Answers kept per statement text.
const MAX_REMEMBERED: usize = 4096;

/// Answers by statement text, each with when it was found: a schema
/// changed outside attache (a view redefined, a foreign key or trigger
/// added) is seen once an answer is older than `postgres.cache.max_ttl`.
#[derive(Default)]
pub(crate) struct Memo {
    reads: Mutex<HashMap<String, (Instant, Reads)>>,
    writes: Mutex<HashMap<String, (Instant, Touched)>>,
}

impl Memo {
    /// Forgets every answer (after a schema change through attache).
    pub fn clear(&self) {
        self.reads.lock().expect("memo lock").clear();
        self.writes.lock().expect("memo lock").clear();
    }
}

fn remember<V: Clone>(map: &Mutex<HashMap<String, (Instant, V)>>, sql: &str, value: &V) {
    let mut map = map.lock().expect("memo lock");
    if map.len() >= MAX_REMEMBERED {
        map.clear();
    }
    map.insert(sql.to_owned(), (Instant::now(), value.clone()));
}

fn recall<V: Clone>(map: &Mutex<HashMap<String, (Instant, V)>>, sql: &str, max_age: Duration) -> Option<V> {
    let map = map.lock().expect("memo lock");
    map.get(sql).filter(|(at, _)| at.elapsed() < max_age).map(|(_, value)| value.clone())
}

/// Relations, functions and doubts found in a plan.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    relations: Vec<(String, String)>,
    /// Functions its expressions call, including those hidden in views,
    /// column defaults and row-level security policies (unqualified,
    /// lowercased).
    functions: Vec<String>,
    /// Partitions were pruned at executor start-up, so not every table a
    /// read may touch is named (a write names its target anyway).
    pruned: bool,
    opaque: Option<String>,
}

fn walk(node: &serde_json::Value, plan: &mut Plan) {
    match node {
        serde_json::Value::Object(fields) => {
            let text = |key: &str| fields.get(key).and_then(|v| v.as_str());
            if let (Some(name), Some(schema)) = (text("Relation Name"), text("Schema")) {
                let relation = (schema.to_owned(), name.to_owned());
                if !plan.relations.contains(&relation) {
                    plan.relations.push(relation);
                }
            }
            if text("Node Type") == Some("Function Scan") && text("Schema") != Some("pg_catalog") {
                let name = text("Function Name").unwrap_or("a function");
                plan.opaque.get_or_insert_with(|| format!("reads rows from {name}(), whose reads attache cannot see"));
            }
            if fields.get("Subplans Removed").and_then(|v| v.as_u64()).unwrap_or(0) > 0 {
                plan.pruned = true;
            }
            fields.values().for_each(|v| walk(v, plan));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, plan)),
        // Expressions (Output, Filter, Index Cond...) as VERBOSE prints them.
        serde_json::Value::String(text) if text.contains('(') => match sql::called_functions(text) {
            Ok(functions) => {
                for f in functions {
                    let name = f.rsplit('.').next().unwrap_or(&f).to_owned();
                    if !plan.functions.contains(&name) {
                        plan.functions.push(name);
                    }
                }
            }
            Err(why) => {
                plan.opaque.get_or_insert_with(|| format!("its plan {why}"));
            }
        },
        _ => {}
    }
}

/// Root tables of `relations`, with (for a write) every table reached by
/// cascading foreign keys, and whether any of them has a user trigger.
const RESOLVE: &str = "\
WITH RECURSIVE touched(oid) AS (
  SELECT c.oid FROM unnest($1::text[], $2::text[]) AS u(s, n)
  JOIN pg_namespace ns ON ns.nspname = u.s
  JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n
  UNION
  SELECT k.conrelid FROM pg_constraint k JOIN touched ON k.confrelid = touched.oid
  WHERE $3::bool AND k.contype = 'f'
    AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))
)
SELECT COALESCE(pg_partition_root(oid), oid)::oid,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = touched.oid AND NOT t.tgisinternal)
FROM touched";

fn text_array(items: impl Iterator<Item = String>) -> Value {
    let elements: Vec<Value> = items.map(Value::Text).collect();
    Value::Array(value::Array { dimensions: vec![(elements.len() as i32, 1)], elements, element_oid: 0 })
}

impl Inner {
    /// The tables a read depends on, or why it cannot be cached.
    pub(crate) async fn reads_of(&self, sql: &str, params: usize, deadline: Instant) -> Result<Reads, Error> {
        if let Some(known) = recall(&self.memo.reads, sql, self.config.cache.max_ttl) {
            return Ok(known);
        }
        let reads = match self.explain(sql, params, deadline).await? {
            Err(why) => Reads::Opaque(why),
            Ok(Plan { opaque: Some(why), .. }) => Reads::Opaque(why),
            Ok(Plan { pruned: true, .. }) => Reads::Opaque("partitions were pruned from its plan".into()),
            Ok(Plan { relations, functions, opaque: None, .. }) => {
                let facts = self.function_facts(&functions, deadline).await?;
                match (facts.volatile, facts.user_defined) {
                    (Some(f), _) => Reads::Opaque(format!("its plan calls {f}, a volatile function")),
                    (None, Some(f)) => {
                        Reads::Opaque(format!("its plan calls {f}, a user function whose reads attache cannot see"))
                    }
                    (None, None) => Reads::Tables(self.resolve(relations, false, deadline).await?.0.into()),
                }
            }
        };
        remember(&self.memo.reads, sql, &reads);
        Ok(reads)
    }

    /// What a statement that may write touches. Statements the planner
    /// cannot explain (DDL, COPY, CALL, DO), user functions and triggers
    /// make it everything.
    pub(crate) async fn writes_of(&self, sql: &str, params: usize, deadline: Instant) -> Result<Touched, Error> {
        if let Some(known) = recall(&self.memo.writes, sql, self.config.cache.max_ttl) {
            return Ok(known);
        }
        let user_function = match sql::called_functions(sql) {
            Ok(functions) => self.function_facts(&functions, deadline).await?.user_defined,
            Err(why) => Some(why.to_owned()),
        };
        let touched = match (user_function, self.explain(sql, params, deadline).await?) {
            (None, Ok(Plan { relations, functions, opaque: None, .. })) => {
                // A user function the plan calls (a column default, a view,
                // a policy) may write anywhere.
                match self.function_facts(&functions, deadline).await?.user_defined {
                    Some(_) => Touched::Everything,
                    None => match self.resolve(relations, true, deadline).await? {
                        (tables, false) => Touched::Tables(tables),
                        (_, true) => Touched::Everything,
                    },
                }
            }
            _ => Touched::Everything,
        };
        // A statement attache could not analyse may have changed the schema
        // that earlier answers came from; it is not remembered itself.
        if touched == Touched::Everything {
            self.memo.clear();
            self.inserts.forget_plans();
        } else {
            remember(&self.memo.writes, sql, &touched);
        }
        Ok(touched)
    }

    /// The generic plan of `sql` (so no parameter value folds a table
    /// away), on a pooled connection: `Ok(Err(why))` when the database
    /// cannot plan it.
    async fn explain(&self, sql: &str, params: usize, deadline: Instant) -> Result<Result<Plan, String>, Error> {
        let mut lease = self.pool.lease(deadline).await?;
        let work = async {
            let client = &lease.conn().client;
            client
                .batch_execute("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            // The extended protocol takes a single statement, so `sql`
            // cannot smuggle a second one in.
            let prepared = client.execute(&format!("PREPARE attache_explain AS {sql}"), &[]).await;
            let planned = match &prepared {
                Err(e) => Err(e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_owned())),
                Ok(_) => {
                    // EXECUTE takes no parentheses without parameters.
                    let nulls = match params {
                        0 => String::new(),
                        n => format!("({})", vec!["NULL"; n].join(", ")),
                    };
                    let explain = format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE attache_explain{nulls}");
                    client.simple_query(&explain).await.map_err(|e| e.to_string())
                }
            };
            client.batch_execute("ROLLBACK").await.map_err(|e| Error::Internal(e.to_string()))?;
            // A prepared statement outlives the transaction.
            if prepared.is_ok() {
                client.batch_execute("DEALLOCATE attache_explain").await.map_err(|e| Error::Internal(e.to_string()))?;
            }
            let messages = match planned {
                Ok(messages) => messages,
                Err(why) => return Ok(Err(format!("the database cannot plan it ({why})"))),
            };
            let json = messages.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            });
            let json: serde_json::Value = serde_json::from_str(json.unwrap_or(""))
                .map_err(|e| Error::Internal(format!("EXPLAIN returned no JSON plan: {e}")))?;
            let mut plan = Plan::default();
            walk(&json, &mut plan);
            Ok(Ok(plan))
        };
        let ran = tokio::time::timeout_at(deadline, work).await;
        crate::service::finish(lease, ran, &self.metrics.cancelled)
    }

    /// Root tables of `relations` (and, for a write, what cascades from
    /// them), and whether any has a user trigger.
    async fn resolve(
        &self,
        relations: Vec<(String, String)>,
        write: bool,
        deadline: Instant,
    ) -> Result<(Vec<Table>, bool), Error> {
        if relations.is_empty() {
            return Ok((Vec::new(), false));
        }
        let (schemas, names): (Vec<String>, Vec<String>) = relations.into_iter().unzip();
        let params = [
            Param { value: text_array(schemas.into_iter()), type_name: None },
            Param { value: text_array(names.into_iter()), type_name: None },
            Param { value: Value::Bool(write), type_name: None },
        ];
        let rows = self.run_pooled(RESOLVE, &params, QueryOptions::default(), deadline).await?.rows;
        let mut tables = Vec::new();
        let mut triggers = false;
        for row in rows {
            if let [Value::Int(oid), Value::Bool(trigger)] = row.as_slice() {
                let oid = *oid as Table;
                if !tables.contains(&oid) {
                    tables.push(oid);
                }
                triggers |= trigger;
            }
        }
        Ok((tables, triggers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_names_its_relations_and_its_doubts() {
        let json = serde_json::json!([{"Plan": {
            "Node Type": "Nested Loop",
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "users", "Schema": "app", "Alias": "u"},
                {"Node Type": "Index Scan", "Relation Name": "orders", "Schema": "public"},
                {"Node Type": "Seq Scan", "Relation Name": "users", "Schema": "app", "Alias": "v"},
            ]
        }}]);
        let mut plan = Plan::default();
        walk(&json, &mut plan);
        assert_eq!(
            plan,
            Plan {
                relations: vec![("app".into(), "users".into()), ("public".into(), "orders".into())],
                functions: vec![],
                pruned: false,
                opaque: None
            }
        );
        let mut plan = Plan::default();
        walk(&serde_json::json!({"Node Type": "Append", "Subplans Removed": 2}), &mut plan);
        assert!(plan.pruned);
        let mut plan = Plan::default();
        walk(&serde_json::json!({"Output": ["u.id", "app.balance(u.id)", "nextval('s'::regclass)"]}), &mut plan);
        assert_eq!(plan.functions, vec!["balance".to_owned(), "nextval".to_owned()]);
        let mut plan = Plan::default();
        walk(&serde_json::json!({"Node Type": "Function Scan", "Function Name": "f", "Schema": "app"}), &mut plan);
        assert!(plan.opaque.unwrap().contains("f()"));
        let mut plan = Plan::default();
        walk(&serde_json::json!({"Node Type": "Function Scan", "Schema": "pg_catalog"}), &mut plan);
        assert_eq!(plan.opaque, None);
    }
}

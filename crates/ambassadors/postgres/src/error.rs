use attache_core::{Detail, Kind};
use tokio_postgres::error::{DbError, SqlState};

/// Why a Postgres call failed. Each maps to one [`Kind`]; a database error
/// keeps every field Postgres gave, which reaches the caller as a detail.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Database(Box<DbFacts>),
    #[error("the database at {address} is unavailable: {reason}; calls fail at once until it is back")]
    Unavailable { address: String, reason: String },
    #[error(
        "all {0} pooled connections stayed busy until the deadline; retry with backoff, or raise postgres.pool_size"
    )]
    PoolExhausted(usize),
    #[error(
        "{0} transactions are open, the most postgres.transaction.max_open allows; end one (Commit or Rollback) first"
    )]
    TooManyTransactions(usize),
    #[error("the deadline passed {0}; the statement was cancelled on the server")]
    Deadline(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no open transaction {0:?}: it was committed, rolled back, timed out, or belongs to another process")]
    NoTransaction(String),
    #[error("the sidecar is shutting down; open transactions were rolled back")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// A database error as Postgres reported it.
#[derive(Debug, Clone)]
pub struct DbFacts {
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<u32>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub datatype: Option<String>,
    pub constraint: Option<String>,
    /// Which statement of an Execute failed, from 1.
    pub statement: Option<usize>,
}

impl std::fmt::Display for DbFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(position) = self.position {
            write!(f, " (at character {position})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl From<&DbError> for DbFacts {
    fn from(e: &DbError) -> Self {
        let position = match e.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
            _ => None,
        };
        Self {
            code: e.code().clone(),
            message: e.message().to_owned(),
            detail: e.detail().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
            position,
            schema: e.schema().map(str::to_owned),
            table: e.table().map(str::to_owned),
            column: e.column().map(str::to_owned),
            datatype: e.datatype().map(str::to_owned),
            constraint: e.constraint().map(str::to_owned),
            statement: None,
        }
    }
}

impl Error {
    /// A driver error: the database's own error with its facts, or the
    /// connection failing (the address named, never the password).
    pub(crate) fn from_driver(e: &tokio_postgres::Error, address: &str) -> Self {
        match e.as_db_error() {
            Some(db) => Error::Database(Box::new(db.into())),
            None => Error::Unavailable { address: address.to_owned(), reason: e.to_string() },
        }
    }

    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Database(db) => Some(db.code.code()),
            _ => None,
        }
    }

    /// A serialization failure or deadlock: retrying the transaction may
    /// succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), Kind::Aborted | Kind::Unavailable)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Error::Database(db) => kind_of(&db.code),
            Error::Unavailable { .. } | Error::ShuttingDown => Kind::Unavailable,
            Error::PoolExhausted(_) | Error::TooManyTransactions(_) | Error::TooLarge(_) => Kind::ResourceExhausted,
            Error::Deadline(_) => Kind::DeadlineExceeded,
            Error::InvalidArgument(_) => Kind::InvalidArgument,
            Error::Refused(_) => Kind::FailedPrecondition,
            Error::NoTransaction(_) => Kind::NotFound,
            Error::Internal(_) => Kind::Internal,
        }
    }
}

/// The status a SQLSTATE maps to, by class and a few codes.
fn kind_of(code: &SqlState) -> Kind {
    let code = code.code();
    match code {
        "23505" => Kind::AlreadyExists,
        "40001" | "40P01" => Kind::Aborted,
        "57014" => Kind::DeadlineExceeded,
        "42501" => Kind::PermissionDenied,
        "22003" | "22008" => Kind::OutOfRange,
        "53300" => Kind::ResourceExhausted,
        "57P01" | "57P02" | "57P03" => Kind::Unavailable,
        "XX000" | "XX001" | "XX002" => Kind::Internal,
        _ => match &code[..2] {
            // Syntax errors, undefined objects, bad values: the caller's SQL.
            "42" | "22" | "2F" | "0A" | "26" | "34" | "3F" => Kind::InvalidArgument,
            "23" | "25" | "2B" | "2D" | "3B" | "P0" | "0L" | "0P" | "28" | "3D" => Kind::FailedPrecondition,
            "08" => Kind::Unavailable,
            "53" | "54" => Kind::ResourceExhausted,
            "40" => Kind::Aborted,
            _ => Kind::FailedPrecondition,
        },
    }
}

impl From<Error> for attache_core::Error {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        let message = e.to_string();
        let error = attache_core::Error::new(kind, message);
        match e {
            Error::Database(db) => error.with_detail(
                Detail::new("postgres", db.code.code())
                    .field("sqlstate", Some(db.code.code()))
                    .field("constraint", db.constraint)
                    .field("schema", db.schema)
                    .field("table", db.table)
                    .field("column", db.column)
                    .field("datatype", db.datatype)
                    .field("detail", db.detail)
                    .field("hint", db.hint)
                    .field("position", db.position.map(|p| p.to_string()))
                    .field("statement", db.statement.map(|s| s.to_string())),
            ),
            _ => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_the_documented_statuses() {
        for (code, kind) in [
            ("42601", Kind::InvalidArgument),
            ("42P01", Kind::InvalidArgument),
            ("42703", Kind::InvalidArgument),
            ("23505", Kind::AlreadyExists),
            ("23503", Kind::FailedPrecondition),
            ("23502", Kind::FailedPrecondition),
            ("40001", Kind::Aborted),
            ("40P01", Kind::Aborted),
            ("57014", Kind::DeadlineExceeded),
            ("08006", Kind::Unavailable),
            ("22P02", Kind::InvalidArgument),
            ("22003", Kind::OutOfRange),
        ] {
            assert_eq!(kind_of(&SqlState::from_code(code)), kind, "{code}");
        }
    }
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::{Config, Env, Error};

/// Values from command-line flags; they override file and environment.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--socket`
    pub socket: Option<PathBuf>,
    /// `--admin`
    pub admin: Option<String>,
}

/// A loaded configuration and what the loader wants the operator to know.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Unrecognised `ATTACHE_*` variables and similar non-fatal findings.
    pub warnings: Vec<String>,
}

/// Short names for the most used fields. `ATTACHE_SOCKET` is also what the
/// SDKs read, so one variable points both ends at the same socket.
const ALIASES: &[(&str, &[&str])] =
    &[("ATTACHE_SOCKET", &["server", "socket"]), ("ATTACHE_ADMIN", &["admin", "listen"])];

/// Variables read by the SDKs rather than the sidecar; not warned about.
const CLIENT_VARS: &[&str] = &["ATTACHE_TIMEOUT_MS"];

impl Config {
    /// Loads `file` (if any), applies `ATTACHE_*` variables from `env`, then
    /// `flags`, and validates the result.
    pub fn load(file: Option<&Path>, env: &dyn Env, flags: &Flags) -> Result<Loaded, Error> {
        let mut table = match file {
            Some(path) => read_table(path)?,
            None => Table::new(),
        };
        let mut origins = HashMap::new();
        let mut warnings = Vec::new();
        let fields = known_fields();
        for (name, raw) in attache_vars(env)? {
            let field = ALIASES
                .iter()
                .find(|(alias, _)| *alias == name)
                .map(|(_, path)| (path.iter().map(|s| s.to_string()).collect::<Vec<_>>(), None))
                .or_else(|| fields.get(&name).map(|(path, default)| (path.clone(), default.clone())));
            let Some((path, default)) = field else {
                if !CLIENT_VARS.contains(&name.as_str()) {
                    warnings.push(format!("ignoring unknown environment variable {name}"));
                }
                continue;
            };
            let value = env_value(&name, &raw, default.as_ref())?;
            origins.insert(path.join("."), name);
            set(&mut table, &path, value);
        }
        if let Some(socket) = &flags.socket {
            set(&mut table, &["server".into(), "socket".into()], Value::String(socket.display().to_string()));
            origins.insert("server.socket".into(), "--socket".into());
        }
        if let Some(admin) = &flags.admin {
            set(&mut table, &["admin".into(), "listen".into()], Value::String(admin.clone()));
            origins.insert("admin.listen".into(), "--admin".into());
        }
        let config = deserialize(table, &origins)?;
        config.validate()?;
        Ok(Loaded { config, warnings })
    }

    /// Validates one file alone, as `attache config check` does.
    pub fn check_file(path: &Path) -> Result<Config, Error> {
        let config = deserialize(read_table(path)?, &HashMap::new())
            .map_err(|e| Error::File { path: path.to_owned(), message: e.to_string() })?;
        config.validate().map_err(|e| Error::File { path: path.to_owned(), message: e.to_string() })?;
        Ok(config)
    }
}

/// The `ATTACHE_*` variables as text. Any other variable is skipped
/// unread, whatever its encoding. One of ours that is not UTF-8 cannot
/// mean anything, so it is refused by name; its value is not shown, as it
/// may be a password.
fn attache_vars(env: &dyn Env) -> Result<Vec<(String, String)>, Error> {
    let mut vars = Vec::new();
    for (name, value) in env.vars() {
        if !name.as_encoded_bytes().starts_with(b"ATTACHE_") {
            continue;
        }
        let name = name.into_string().map_err(|name| Error::Field {
            field: name.to_string_lossy().into_owned(),
            message: "this variable name is not valid UTF-8, so it names no setting; unset it".into(),
        })?;
        let Ok(value) = value.into_string() else {
            return Err(Error::Field {
                field: name,
                message: "the value is not valid UTF-8; set it as UTF-8 text".into(),
            });
        };
        vars.push((name, value));
    }
    Ok(vars)
}

fn read_table(path: &Path) -> Result<Table, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    text.parse::<Table>().map_err(|e| Error::File { path: path.to_owned(), message: syntax_error(&text, e) })
}

/// The parser's message and where it points, without the quote of the
/// offending line that toml's `Display` adds: that line may hold a password.
fn syntax_error(text: &str, mut error: toml::de::Error) -> String {
    let at = error.span().map(|span| {
        let before = text.as_bytes().get(..span.start).unwrap_or(text.as_bytes());
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        format!("line {line}, column {column}: ")
    });
    error.set_input(None);
    let message = error.to_string();
    format!("{}{}", at.unwrap_or_default(), message.trim_end().replace('\n', "; "))
}

fn deserialize(table: Table, origins: &HashMap<String, String>) -> Result<Config, Error> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let field = e.path().to_string();
        let field = match origins.get(&field) {
            Some(origin) => format!("{field} (from {origin})"),
            None => field,
        };
        Error::Field { field, message: e.into_inner().to_string() }
    })
}

/// Every field's environment variable name, with its path and default
/// (`None` for a field with no default, such as `postgres.url`).
///
/// Derived from the defaults serialized as JSON rather than TOML: TOML has
/// no null and leaves out a field whose default is `None`, JSON writes it,
/// so every field of every section is found with no list kept by hand.
fn known_fields() -> HashMap<String, (Vec<String>, Option<Value>)> {
    let defaults = serde_json::to_value(Config::default()).expect("the default config serializes");
    let mut leaves = Vec::new();
    json_leaves(&defaults, &mut Vec::new(), &mut leaves);
    leaves.into_iter().map(|(path, default)| (env_name(&path), (path, default))).collect()
}

fn json_leaves(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<Value>)>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, value) in fields {
                path.push(key.clone());
                json_leaves(value, path, out);
                path.pop();
            }
        }
        serde_json::Value::Null => out.push((path.clone(), None)),
        leaf => out.push((path.clone(), Some(Value::try_from(leaf).expect("a JSON scalar or array is TOML")))),
    }
}

pub(crate) fn env_name(path: &[String]) -> String {
    format!("ATTACHE_{}", path.join("_").to_uppercase())
}

/// Reads an environment value as the type of the field's default.
fn env_value(name: &str, raw: &str, default: Option<&Value>) -> Result<Value, Error> {
    let bad =
        |expected: &str| Error::Field { field: name.to_owned(), message: format!("expected {expected}, got {raw:?}") };
    let scalar = |raw: &str, like: Option<&Value>| -> Result<Value, Error> {
        Ok(match like {
            Some(Value::Integer(_)) => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
            Some(Value::Float(_)) => Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?),
            Some(Value::Boolean(_)) => Value::Boolean(match raw.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("true or false")),
            }),
            _ => Value::String(raw.to_owned()),
        })
    };
    match default {
        Some(Value::Array(items)) => {
            let like = items.first().cloned().unwrap_or(Value::Integer(0));
            let parts = raw.split(',').map(str::trim).filter(|s| !s.is_empty());
            Ok(Value::Array(parts.map(|p| scalar(p, Some(&like))).collect::<Result<_, _>>()?))
        }
        other => scalar(raw, other),
    }
}

fn set(table: &mut Table, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("config paths are never empty");
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        current = entry.as_table_mut().expect("made a table just above");
    }
    current.insert(last.clone(), value);
}

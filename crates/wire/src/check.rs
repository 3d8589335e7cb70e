//! Path-aware JSON accessors for the wire parsers: every error names the offending field
//! (`messages[2].content[0].type: ...`). Knows nothing about any particular format.

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::error::{Result, WireError};

/// Who sent the JSON being read, which decides the error variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// A client request: mistakes are the caller's (`InvalidRequest`, 400).
    Client,
    /// An upstream answer from the named provider: mistakes are an upstream failure.
    Upstream(&'static str),
}

impl Side {
    pub(crate) fn err(self, path: &str, msg: impl Display) -> WireError {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        match self {
            Side::Client => WireError::InvalidRequest(format!("{at}{msg}")),
            Side::Upstream(p) => WireError::Internal(format!("malformed {p} response: {at}{msg}")),
        }
    }
}

/// `Untranslatable` naming a field.
pub(crate) fn untranslatable(path: &str, msg: impl Display) -> WireError {
    WireError::Untranslatable(format!("{path}: {msg}"))
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A JSON type name for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being read, with its path for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: String,
    pub side: Side,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(v: &'a Value, path: impl Into<String>, side: Side) -> Result<Obj<'a>> {
        let path = path.into();
        match v {
            Value::Object(map) => Ok(Obj { map, path, side }),
            other => Err(side.err(&path, format!("expected an object, got {}", kind(other)))),
        }
    }

    /// The field, treating an explicit `null` as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn err(&self, key: &str, msg: impl Display) -> WireError {
        self.side.err(&self.path(key), msg)
    }

    fn expected(&self, key: &str, what: &str, got: &Value) -> WireError {
        self.err(key, format!("expected {what}, got {}", kind(got)))
    }

    pub(crate) fn required(&self, key: &str) -> Result<&'a Value> {
        self.get(key).ok_or_else(|| self.err(key, "is required"))
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, "is required"))
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.expected(key, "a string", other)),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.expected(key, "a boolean", other)),
        }
    }

    pub(crate) fn opt_f64(&self, key: &str, range: RangeInclusive<f64>) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v
            .as_f64()
            .ok_or_else(|| self.expected(key, "a number", v))?;
        if !range.contains(&n) {
            return Err(self.err(
                key,
                format!(
                    "{n} is out of range; expected {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Some(n))
    }

    pub(crate) fn opt_u32(&self, key: &str, min: u32) -> Result<Option<u32>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v
            .as_u64()
            .ok_or_else(|| self.expected(key, "a non-negative integer", v))?;
        let n = u32::try_from(n).map_err(|_| self.err(key, format!("{n} is too large")))?;
        if n < min {
            return Err(self.err(key, format!("{n} is below the minimum of {min}")));
        }
        Ok(Some(n))
    }

    pub(crate) fn array(&self, key: &str) -> Result<&'a Vec<Value>> {
        self.opt_array(key)?
            .ok_or_else(|| self.err(key, "is required"))
    }

    pub(crate) fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.expected(key, "an array", other)),
        }
    }

    pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>> {
        Obj::new(self.required(key)?, self.path(key), self.side)
    }

    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(v, self.path(key), self.side))
            .transpose()
    }
}

/// Lenient token count from a usage object: absent or malformed → 0.
pub(crate) fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_name_the_field() {
        let v = json!({"a": {"b": 3, "s": "x", "n": null}});
        let top = Obj::new(&v, "", Side::Client).unwrap();
        let a = top.obj("a").unwrap();
        assert_eq!(a.path("b"), "a.b");
        let e = a.opt_str("b").unwrap_err().to_string();
        assert_eq!(e, "a.b: expected a string, got a number");
        assert_eq!(a.opt_str("n").unwrap(), None);
        assert_eq!(
            a.str("missing").unwrap_err().to_string(),
            "a.missing: is required"
        );
        let e = a.opt_f64("b", 0.0..=2.0).unwrap_err().to_string();
        assert_eq!(e, "a.b: 3 is out of range; expected 0 to 2");
        assert_eq!(a.opt_u32("b", 1).unwrap(), Some(3));
        assert!(a.opt_u32("b", 4).is_err());
        assert!(Obj::new(&json!([]), "x", Side::Client).is_err());
    }

    #[test]
    fn upstream_errors_are_internal() {
        let e = Side::Upstream("openai").err("choices", "is required");
        assert!(
            matches!(e, WireError::Internal(ref m) if m == "malformed openai response: choices: is required")
        );
    }
}

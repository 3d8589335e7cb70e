//! Loading evaluation data: routing rows (JSONL), precomputed router scores and model
//! prices. Pure parsing; it knows nothing about metrics or the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::types::{ChatRequest, Message, Part, Role};

/// One row of a routing data set (the format of `shared/data/routing/*.jsonl`).
///
/// Unknown fields are ignored on purpose: data sets grow columns, and the evaluator
/// must keep reading them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    pub id: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    pub prompt: String,
    /// Earlier turns of the conversation, oldest first (see [`Turn`]).
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// Quality of each model's answer, 0..1.
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
    /// What each model's answer cost, when the data set measured it.
    #[serde(default)]
    pub cost_usd: BTreeMap<String, f64>,
}

/// An earlier turn. A bare string alternates roles starting with the user (the usual
/// "user, assistant, user, ..." history before `prompt`); an object names its role.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Turn {
    Text(String),
    Message { role: String, content: String },
}

impl Row {
    /// Characters (not bytes) of everything the model reads: the prompt-length baseline
    /// and the token estimate both use it, and RouteLLM's length baseline counts characters.
    pub fn text_chars(&self) -> usize {
        let turns: usize = self
            .turns
            .iter()
            .map(|t| match t {
                Turn::Text(s) => s.chars().count(),
                Turn::Message { content, .. } => content.chars().count(),
            })
            .sum();
        turns + self.prompt.chars().count()
    }

    /// The request the gateway would see for this row: earlier turns, then the prompt as
    /// the last user message. `model` is what the client asked for (normally "auto").
    pub fn to_chat_request(&self, model: &str) -> Result<ChatRequest> {
        let mut messages = Vec::with_capacity(self.turns.len() + 1);
        for (i, turn) in self.turns.iter().enumerate() {
            let (role, text) = match turn {
                Turn::Text(s) => (
                    if i % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    s,
                ),
                Turn::Message { role, content } => (parse_role(role, &self.id)?, content),
            };
            messages.push(Message {
                role,
                content: vec![Part::text(text.clone())],
            });
        }
        messages.push(Message {
            role: Role::User,
            content: vec![Part::text(self.prompt.clone())],
        });
        Ok(ChatRequest {
            model: model.to_string(),
            messages,
            ..ChatRequest::default()
        })
    }
}

fn parse_role(role: &str, id: &str) -> Result<Role> {
    match role {
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "system" | "developer" => Ok(Role::System),
        other => {
            bail!("row {id}: unknown turn role {other:?} (expected user, assistant or system)")
        }
    }
}

/// Reads a JSONL file of rows; blank lines are skipped, and a bad line is an error
/// naming its line number rather than a silently shorter data set.
pub fn load_rows(path: &Path) -> Result<Vec<Row>> {
    load_jsonl(path)
}

/// `load_rows` for any row type (rows with recorded answers, say).
pub fn load_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: T = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a routing row", path.display(), n + 1))?;
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(rows)
}

/// Reads router scores keyed by row id from a JSONL file with `id` and `score` fields,
/// such as the output of `frugal route --batch`.
pub fn load_scores(path: &Path) -> Result<HashMap<String, f64>> {
    #[derive(Deserialize)]
    struct ScoreLine {
        id: String,
        score: f64,
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut scores = HashMap::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let s: ScoreLine = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: expected {{\"id\", \"score\"}}",
                path.display(),
                n + 1
            )
        })?;
        scores.insert(s.id, s.score);
    }
    Ok(scores)
}

/// A model's price in USD per million tokens. A blended price sets both sides equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl ModelPrice {
    pub fn cost(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6
    }
}

/// Prices by model name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    pub models: BTreeMap<String, ModelPrice>,
    /// Models listed more than once at different prices (models.json lists mixtral under
    /// two data sets). Only an error when such a model is actually looked up.
    pub ambiguous: BTreeMap<String, Vec<String>>,
}

impl PriceTable {
    /// Reads a prices file shaped like `shared/data/routing/models.json`.
    pub fn load(path: &Path) -> Result<PriceTable> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let table = PriceTable::from_json(&value)
            .with_context(|| format!("{}: bad prices", path.display()))?;
        if table.models.is_empty() {
            bail!("{}: no model prices found (expected usd_per_mtok_blended or input_usd_per_mtok/output_usd_per_mtok)", path.display());
        }
        Ok(table)
    }

    /// Accepts a flat `{model: price}` object or groups of them nested at any depth
    /// (models.json groups by data set); keys starting with `_` are notes.
    pub fn from_json(value: &Value) -> Result<PriceTable> {
        let mut table = PriceTable::default();
        let mut seen: BTreeMap<String, Vec<(String, ModelPrice)>> = BTreeMap::new();
        collect_prices(value, "", &mut seen)?;
        for (model, entries) in seen {
            let first = entries[0].1;
            if entries.iter().all(|(_, p)| *p == first) {
                table.models.insert(model, first);
            } else {
                table
                    .ambiguous
                    .insert(model, entries.into_iter().map(|(path, _)| path).collect());
            }
        }
        Ok(table)
    }

    /// `Ok(None)` when the model is not priced here; an error when it is priced twice.
    pub fn get(&self, model: &str) -> Result<Option<ModelPrice>> {
        if let Some(paths) = self.ambiguous.get(model) {
            bail!(
                "model {model} has different prices at {}; use a prices file that lists it once",
                paths.join(" and ")
            );
        }
        Ok(self.models.get(model).copied())
    }
}

type SeenPrices = BTreeMap<String, Vec<(String, ModelPrice)>>;

fn collect_prices(value: &Value, path: &str, out: &mut SeenPrices) -> Result<()> {
    let Some(obj) = value.as_object() else {
        return Ok(());
    };
    for (key, v) in obj {
        if key.starts_with('_') {
            continue;
        }
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match price_of(v) {
            Some(Ok(price)) => out.entry(key.clone()).or_default().push((here, price)),
            Some(Err(e)) => return Err(e.context(format!("price of {here}"))),
            None => collect_prices(v, &here, out)?,
        }
    }
    Ok(())
}

/// `None` when `v` is not a price entry at all (a group to recurse into).
fn price_of(v: &Value) -> Option<Result<ModelPrice>> {
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    if let Some(b) = num("usd_per_mtok_blended") {
        return Some(checked(ModelPrice {
            input_per_mtok: b,
            output_per_mtok: b,
        }));
    }
    match (num("input_usd_per_mtok"), num("output_usd_per_mtok")) {
        (Some(i), Some(o)) => Some(checked(ModelPrice {
            input_per_mtok: i,
            output_per_mtok: o,
        })),
        (Some(_), None) | (None, Some(_)) => Some(Err(anyhow::anyhow!(
            "needs both input_usd_per_mtok and output_usd_per_mtok"
        ))),
        (None, None) => None,
    }
}

fn checked(p: ModelPrice) -> Result<ModelPrice> {
    let ok = |x: f64| x.is_finite() && x >= 0.0;
    if ok(p.input_per_mtok) && ok(p.output_per_mtok) {
        Ok(p)
    } else {
        bail!("prices must be finite and non-negative")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn turns_become_earlier_messages() {
        let row: Row = serde_json::from_value(json!({
            "id": "x", "prompt": "and now?",
            "turns": ["hi", "hello", {"role": "system", "content": "be brief"}]
        }))
        .unwrap();
        let req = row.to_chat_request("auto").unwrap();
        let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            vec![Role::User, Role::Assistant, Role::System, Role::User]
        );
        assert_eq!(req.messages[3].content, vec![Part::text("and now?")]);
        assert_eq!(row.text_chars(), 2 + 5 + 8 + 8);
    }

    #[test]
    fn prices_nested_blended_and_split() {
        let v = json!({
            "a": {"x": {"usd_per_mtok_blended": 2.0}, "_note": "n"},
            "b": {"y": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 3.0, "size": "7B"}}
        });
        let t = PriceTable::from_json(&v).unwrap();
        assert_eq!(t.get("x").unwrap().unwrap().cost(1e6, 1e6), 4.0);
        assert_eq!(t.get("y").unwrap().unwrap().cost(1e6, 0.0), 1.0);
        assert_eq!(t.get("nope").unwrap(), None);
        assert!(PriceTable::from_json(&json!({"z": {"input_usd_per_mtok": 1.0}})).is_err());
    }

    #[test]
    fn conflicting_duplicate_price_is_an_error_only_when_used() {
        let v = json!({
            "g1": {"m": {"usd_per_mtok_blended": 1.0}, "k": {"usd_per_mtok_blended": 1.0}},
            "g2": {"m": {"usd_per_mtok_blended": 2.0}, "k": {"usd_per_mtok_blended": 1.0}}
        });
        let t = PriceTable::from_json(&v).unwrap();
        let err = t.get("m").unwrap_err().to_string();
        assert!(err.contains("g1.m") && err.contains("g2.m"), "{err}");
        assert!(t.get("k").unwrap().is_some());
    }
}

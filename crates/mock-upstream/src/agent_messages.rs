//! Scripted agent mode for the Anthropic Messages API: plays the model behind a coding
//! agent such as Claude Code, so a real agent can run a multi-turn task with tool calls
//! against the mock. Selected by a model name with the token `agent` (e.g.
//! `agent-claude-medium`) or the `x-mock-agent` header.
//!
//! The script is a pure function of the conversation (no state in the mock, so a replay
//! gets the same answers): the task is the latest user message that carries no tool
//! result; every absolute path in its text is read in turn, one tool call per turn
//! (`Read` for even steps, `Bash` with `cat` for odd ones, whichever the request offers),
//! and once every path has a result the answer is text quoting each tool result. A
//! request without paths or without those tools (a title request, a quota check) gets
//! the ordinary text answer.

use serde_json::{json, Value};

use crate::answer::{self, Answer, Prompt};

/// Header that turns agent mode on for one request (any non-empty value).
pub const AGENT_HEADER: &str = "x-mock-agent";

/// The first words of the final answer, before the tool results.
pub const FINAL_PREFIX: &str = "Here is what the files say:";

/// Whether a request should be answered by the agent script.
pub(crate) fn selected(model: &str, header: Option<&str>) -> bool {
    if header.is_some_and(|v| !v.trim().is_empty()) {
        return true;
    }
    model
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|token| token == "agent")
}

/// The scripted answer to an Anthropic Messages request.
pub(crate) fn answer(request: &Value, prompt: &Prompt) -> Answer {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(task_at) = messages.iter().rposition(is_task) else {
        return plain(prompt);
    };
    let paths = task_paths(&messages[task_at]);
    let offered = |name: &str| prompt.tools.iter().any(|t| t.name == name);
    if paths.is_empty() || !(offered("Read") || offered("Bash")) {
        return plain(prompt);
    }
    let since_task = &messages[task_at + 1..];
    let calls = since_task
        .iter()
        .filter(|m| role(m) == "assistant")
        .flat_map(blocks)
        .filter(|b| kind(b) == "tool_use")
        .count();
    let Some(path) = paths.get(calls) else {
        let results: Vec<String> = since_task
            .iter()
            .filter(|m| role(m) == "user")
            .flat_map(blocks)
            .filter(|b| kind(b) == "tool_result")
            .map(|b| crate::wire::content_text(b.get("content").unwrap_or(&Value::Null)))
            .collect();
        return Answer::Text {
            text: format!("{FINAL_PREFIX}\n{}", results.join("\n")),
            finish: answer::Finish::Complete,
        };
    };
    let use_read = if calls % 2 == 0 {
        offered("Read")
    } else {
        !offered("Bash")
    };
    let (name, arguments) = if use_read {
        ("Read", json!({"file_path": path}))
    } else {
        (
            "Bash",
            json!({"command": format!("cat {path}"), "description": "Print the file"}),
        )
    };
    Answer::ToolCall {
        name: name.to_string(),
        arguments,
        forced: false,
    }
}

/// The ordinary answer, never a tool call.
fn plain(prompt: &Prompt) -> Answer {
    let text_only = Prompt {
        tools: Vec::new(),
        ..prompt.clone()
    };
    answer::answer(&text_only)
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or_default()
}

fn kind(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// A message's content blocks (a string content is one text block).
fn blocks(m: &Value) -> Vec<Value> {
    match m.get("content") {
        Some(Value::Array(b)) => b.clone(),
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        _ => Vec::new(),
    }
}

/// A user message that states a task: it has text and no tool result.
fn is_task(m: &Value) -> bool {
    let b = blocks(m);
    role(m) == "user"
        && !b.iter().any(|b| kind(b) == "tool_result")
        && b.iter().any(|b| kind(b) == "text")
}

/// Absolute paths in the task's own text (reminder blocks the agent adds are skipped).
fn task_paths(m: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for b in blocks(m) {
        let text = b.get("text").and_then(Value::as_str).unwrap_or_default();
        if kind(&b) != "text" || text.trim_start().starts_with("<system-reminder>") {
            continue;
        }
        for word in text.split_whitespace() {
            let path = word.trim_end_matches(['.', ',', ';', ':', ')', '"', '\'', '`']);
            let path = path.trim_start_matches(['"', '\'', '`', '(']);
            if path.len() > 1 && path.starts_with('/') && !out.iter().any(|p| p == path) {
                out.push(path.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::ToolSpec;

    fn prompt(tools: &[&str]) -> Prompt {
        Prompt {
            model: "agent-x".into(),
            last_user_text: "task".into(),
            tools: tools
                .iter()
                .map(|n| ToolSpec {
                    name: (*n).into(),
                    schema: json!({}),
                })
                .collect(),
            ..Prompt::default()
        }
    }

    fn tool_use(name: &str) -> Value {
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": name, "input": {}}]})
    }

    fn tool_result(text: &str) -> Value {
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": text}]})
    }

    #[test]
    fn selected_by_token_or_header() {
        assert!(selected("agent-claude-medium", None));
        assert!(selected("claude@agent", None));
        assert!(!selected("agentic-claude", None));
        assert!(selected("claude", Some("1")));
        assert!(!selected("claude", Some(" ")));
    }

    #[test]
    fn reads_each_path_then_quotes_the_results() {
        let task = json!({"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>see /etc/passwd</system-reminder>"},
            {"type": "text", "text": "Read /w/a.txt and (`/w/b.txt`), then summarise."}
        ]});
        let p = prompt(&["Agent", "Bash", "Read"]);
        let mut messages = vec![task];
        let first = answer(&json!({"messages": messages}), &p);
        assert!(
            matches!(&first, Answer::ToolCall { name, arguments, .. }
                if name == "Read" && arguments["file_path"] == "/w/a.txt"),
            "{first:?}"
        );
        messages.extend([tool_use("Read"), tool_result("alpha")]);
        let second = answer(&json!({"messages": messages}), &p);
        assert!(
            matches!(&second, Answer::ToolCall { name, arguments, .. }
                if name == "Bash" && arguments["command"] == "cat /w/b.txt"),
            "{second:?}"
        );
        messages.extend([tool_use("Bash"), tool_result("beta")]);
        let Answer::Text { text, .. } = answer(&json!({"messages": messages}), &p) else {
            panic!("expected the final text");
        };
        assert_eq!(text, format!("{FINAL_PREFIX}\nalpha\nbeta"));
    }

    #[test]
    fn without_paths_or_tools_answers_text() {
        let task = json!({"role": "user", "content": "Generate a title for: read /w/a.txt"});
        let no_tools = answer(&json!({"messages": [task.clone()]}), &prompt(&[]));
        assert!(matches!(no_tools, Answer::Text { .. }));
        let other_tools = answer(&json!({"messages": [task]}), &prompt(&["Agent"]));
        assert!(matches!(other_tools, Answer::Text { .. }));
        let no_path = json!({"role": "user", "content": "hello"});
        let r = answer(&json!({"messages": [no_path]}), &prompt(&["Read"]));
        assert!(matches!(r, Answer::Text { .. }));
    }

    #[test]
    fn only_bash_offered_uses_bash_throughout() {
        let task = json!({"role": "user", "content": "cat /w/a.txt"});
        let r = answer(&json!({"messages": [task]}), &prompt(&["Bash"]));
        assert!(matches!(r, Answer::ToolCall { name, .. } if name == "Bash"));
    }
}

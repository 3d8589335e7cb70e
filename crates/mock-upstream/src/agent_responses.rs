//! A scripted coding agent for the Responses API, selected by a model name containing
//! `agent` (e.g. `gpt-agent-mini`). It drives a real agent client (Codex CLI) through one
//! tool round trip: given a user task holding a command in backticks ("Run `cat notes.txt`
//! and tell me what it says"), it asks for that command through the client's shell tool;
//! given the tool's output, it answers with text that quotes the output. Deterministic.

use serde_json::{json, Value};

use crate::answer::{Answer, Finish};
use crate::responses::{items, text_of};

/// The scripted answer, when `model` selects the agent.
pub(crate) fn script(model: &str, request: &Value) -> Option<Answer> {
    if !model.contains("agent") {
        return None;
    }
    let items = items(request);
    let kind = |i: &Value| {
        i.get("type")
            .and_then(Value::as_str)
            .unwrap_or("message")
            .to_string()
    };
    if let Some(last) = items.last().filter(|i| kind(i) == "function_call_output") {
        let output = text_of(last.get("output"));
        return Some(text(format!("The command printed:\n{output}")));
    }
    let task = items
        .iter()
        .rev()
        .find(|i| kind(i) == "message" && i.get("role").and_then(Value::as_str) == Some("user"))
        .map(|i| text_of(i.get("content")))
        .unwrap_or_default();
    let Some(command) = quoted_command(&task) else {
        return Some(text("agent: the task names no command in backticks".into()));
    };
    let tools = request.get("tools").and_then(Value::as_array);
    match tools
        .into_iter()
        .flatten()
        .find_map(|t| shell_call(t, &command))
    {
        Some(answer) => Some(answer),
        None => Some(text("agent: the client offers no shell tool".into())),
    }
}

fn text(text: String) -> Answer {
    Answer::Text {
        text,
        finish: Finish::Complete,
    }
}

/// The first `backticked` span of the task.
fn quoted_command(task: &str) -> Option<String> {
    let start = task.find('`')? + 1;
    let len = task[start..].find('`')?;
    Some(task[start..start + len].to_string()).filter(|c| !c.trim().is_empty())
}

/// A call of `tool` running `command`, when the tool is a shell: `command` as an argv
/// array (`["bash", "-lc", …]`, Codex's `shell`), `command` as a string
/// (`shell_command`), or `cmd` as a string (`exec_command`).
fn shell_call(tool: &Value, command: &str) -> Option<Answer> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return None;
    }
    let name = tool.get("name")?.as_str()?;
    let props = tool.pointer("/parameters/properties")?;
    let arguments = match (props.get("command"), props.get("cmd")) {
        (Some(c), _) if c.get("type").and_then(Value::as_str) == Some("array") => {
            json!({"command": ["bash", "-lc", command]})
        }
        (Some(_), _) => json!({"command": command}),
        (None, Some(_)) => json!({"cmd": command}),
        (None, None) => return None,
    };
    Some(Answer::ToolCall {
        name: name.to_string(),
        arguments,
        forced: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_tool() -> Value {
        json!({"type": "function", "name": "shell", "parameters": {"type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}}}})
    }

    #[test]
    fn task_then_output() {
        let task = json!({"tools": [{"type": "web_search"}, shell_tool()], "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Run `cat notes.txt` please"}]}]});
        assert_eq!(
            script("gpt-agent", &task),
            Some(Answer::ToolCall {
                name: "shell".into(),
                arguments: json!({"command": ["bash", "-lc", "cat notes.txt"]}),
                forced: false
            })
        );
        let done = json!({"input": [
            {"role": "user", "content": "Run `cat notes.txt`"},
            {"type": "function_call", "call_id": "c", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "buy milk"}]});
        assert_eq!(
            script("gpt-agent", &done),
            Some(text("The command printed:\nbuy milk".into()))
        );
        assert_eq!(script("gpt-4o", &done), None);
    }

    #[test]
    fn other_shell_shapes() {
        let exec = json!({"type": "function", "name": "exec_command",
            "parameters": {"properties": {"cmd": {"type": "string"}}}});
        let cmd = json!({"type": "function", "name": "shell_command",
            "parameters": {"properties": {"command": {"type": "string"}}}});
        let req = |tool: Value| json!({"tools": [tool], "input": "do `ls -l`"});
        let args = |a: Option<Answer>| match a {
            Some(Answer::ToolCall { arguments, .. }) => arguments,
            other => panic!("{other:?}"),
        };
        assert_eq!(args(script("agent", &req(exec))), json!({"cmd": "ls -l"}));
        assert_eq!(
            args(script("agent", &req(cmd))),
            json!({"command": "ls -l"})
        );
        assert_eq!(
            script("agent", &json!({"input": "no command"})),
            Some(text("agent: the task names no command in backticks".into()))
        );
    }
}

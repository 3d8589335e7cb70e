//! The one internal request/response model every wire format converts to and from.
//!
//! It is shaped after the content-block model (the richer of the two providers): a
//! conversation is a list of user/assistant messages made of parts, tool results are parts
//! of a user message, and the system prompt sits beside the messages. Nothing here knows
//! about HTTP or about a particular provider.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which client wire format a request arrived in (and must be answered in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OpenAI Chat Completions (`POST /v1/chat/completions`), also every OpenAI-compatible server.
    OpenAi,
    /// Anthropic Messages (`POST /v1/messages`).
    Anthropic,
    /// OpenAI Responses (`POST /v1/responses`): Codex CLI, the Agents SDK.
    Responses,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OpenAi => "openai",
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
        }
    }
}

/// Complexity tiers, cheapest first. The order matters: `Ord` is "needs a stronger model".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Simple,
    Medium,
    Complex,
    Frontier,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Simple, Tier::Medium, Tier::Complex, Tier::Frontier];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Simple => "simple",
            Tier::Medium => "medium",
            Tier::Complex => "complex",
            Tier::Frontier => "frontier",
        }
    }

    /// The next tier up, saturating at `Frontier`.
    pub fn up(self) -> Tier {
        match self {
            Tier::Simple => Tier::Medium,
            Tier::Medium => Tier::Complex,
            Tier::Complex | Tier::Frontier => Tier::Frontier,
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chat request in frugal's own terms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model the caller asked for ("auto", "frugal/eco", or a concrete model name).
    pub model: String,
    /// System prompt blocks, in order (OpenAI leading system/developer messages land here).
    pub system: Vec<TextBlock>,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the caller forbade parallel tool calls.
    pub parallel_tool_calls: Option<bool>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`; Anthropic always sends usage.
    pub stream_include_usage: bool,
    /// End-user identifier (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
}

/// A plain text block, optionally carrying a provider prompt-cache marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    pub text: String,
    /// Anthropic `cache_control` as the caller wrote it (kept verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// A system instruction in the middle of an OpenAI conversation. Anthropic has no
    /// equivalent, so converting one to Anthropic is a 400, never a silent move.
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: ImageSource,
        /// OpenAI `image_url.detail` ("low"/"high"/"auto"); dropped only when it is "auto".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A tool call made by the assistant. `input` is the parsed JSON arguments.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// The result of a tool call, sent back by the user side.
    ToolResult {
        tool_use_id: String,
        content: Vec<Part>,
        #[serde(default)]
        is_error: bool,
    },
}

impl Part {
    pub fn text(s: impl Into<String>) -> Part {
        Part::Text {
            text: s.into(),
            cache_control: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    Url { url: String },
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    /// Must call some tool (OpenAI "required", Anthropic "any").
    Required,
    Tool {
        name: String,
    },
}

/// Why the model stopped, in neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
    Refusal,
    /// A provider value with no neutral meaning; kept verbatim.
    Other(String),
}

/// Token usage in neutral terms. `input_tokens` counts **all** prompt tokens, cached
/// or not (OpenAI's meaning); Anthropic's `input_tokens` excludes cache reads and writes,
/// so its converters add and subtract them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens billed as cache reads.
    pub cache_read_tokens: u64,
    /// Prompt tokens billed as cache writes (Anthropic only; OpenAI caches for free).
    pub cache_write_tokens: u64,
}

impl Usage {
    /// Prompt tokens billed at the plain input price.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Field-wise maximum: providers report usage in pieces during a stream.
    pub fn merge_max(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.max(other.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(other.cache_write_tokens);
    }
}

impl ChatRequest {
    /// A plain-text conversation: `turns` alternate user, assistant, user, … (tests and tools).
    pub fn from_turns(turns: &[&str]) -> ChatRequest {
        ChatRequest {
            messages: turns
                .iter()
                .enumerate()
                .map(|(i, t)| Message {
                    role: if i % 2 == 0 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    content: vec![Part::text(*t)],
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    /// The model that actually answered, as the provider named it.
    pub model: String,
    /// Text and tool-use parts, in order.
    pub content: Vec<Part>,
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that matched, when the provider says which.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

impl ChatResponse {
    /// The answer's text parts, concatenated.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// One neutral streaming event. Decoders turn provider SSE into these; renderers turn
/// these into the client's SSE. Tool calls are numbered by `index`, their order of
/// appearance in the answer (0, 1, ...), independent of text blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// First event of every stream.
    Start {
        id: String,
        model: String,
        usage: Usage,
    },
    TextDelta {
        text: String,
    },
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    /// A piece of the tool call's JSON arguments, exactly as streamed.
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    Finish {
        stop_reason: StopReason,
        stop_sequence: Option<String>,
    },
    /// Usage so far; later events supersede earlier ones field by field (max).
    Usage {
        usage: Usage,
    },
    /// The upstream failed after the stream began.
    Error {
        kind: String,
        message: String,
    },
    /// The stream ended normally.
    Done,
}

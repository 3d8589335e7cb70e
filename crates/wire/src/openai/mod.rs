//! OpenAI Chat Completions (`POST /v1/chat/completions`) ⇄ the internal model: client
//! side (parse requests, render responses and streams) and provider side (build requests,
//! parse responses and streams). Also spoken by every OpenAI-compatible server.

mod build;
mod request;
mod response;
mod stream;
mod untranslatable;

pub use build::{build_request, TOOL_ERROR_MARKER};
pub use request::parse_request;
pub use response::{parse_response, parse_usage, render_response};
pub use stream::{StreamDecoder, StreamRenderer};
pub use untranslatable::untranslatable_fields;

//! Anthropic Messages (`POST /v1/messages`) ⇄ the internal model: client side (parse
//! requests, render responses and streams) and provider side (build requests, parse
//! responses and streams).

mod build;
mod request;
mod response;
mod stream;
mod untranslatable;

pub use build::build_request;
pub use request::{hoist_system_messages, parse_request};
pub use response::{parse_response, parse_usage, render_response};
pub use stream::{StreamDecoder, StreamRenderer};
pub use untranslatable::untranslatable_fields;

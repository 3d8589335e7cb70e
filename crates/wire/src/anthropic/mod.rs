//! Anthropic Messages (`POST /v1/messages`) ⇄ the internal model: client side (parse
//! requests, render responses and streams) and provider side (build requests, parse
//! responses and streams).

mod build;
mod request;
mod response;
mod stream;
mod system_messages;
mod untranslatable;

pub use build::build_request;
pub use request::parse_request;
pub use response::{parse_response, parse_usage, render_response};
pub use stream::{StreamDecoder, StreamRenderer};
pub use system_messages::place_system_messages;
pub use untranslatable::untranslatable_fields;

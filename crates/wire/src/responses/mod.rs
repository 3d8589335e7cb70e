//! OpenAI Responses (`POST /v1/responses`) ⇄ the internal model: client side (parse
//! requests, render responses and streams) and provider side (build requests for
//! Responses-only models, parse their responses and streams).
//!
//! frugal is stateless: a request must carry the whole conversation in `input` (what
//! agents send with `store: false`). `previous_response_id`, `conversation` and
//! `background` need state kept between requests and are refused with a 400 by
//! `parse_request`. Items the internal model cannot carry (reasoning items, built-in tool
//! calls, `item_reference`) are accepted, skipped, and named by `untranslatable_fields`:
//! they reach an OpenAI model untouched (the client's body is forwarded) and make any
//! other model refuse the request.

mod build;
mod request;
mod response;
mod stream;
mod untranslatable;

pub use build::build_request;
pub use request::parse_request;
pub use response::{parse_response, parse_usage, render_response, responses_id};
pub use stream::{StreamDecoder, StreamRenderer};
pub use untranslatable::untranslatable_fields;

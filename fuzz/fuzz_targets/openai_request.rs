//! Arbitrary bytes → JSON → an OpenAI Chat Completions request (see `check_client_request`).
#![no_main]
use frugal_core::types::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(body) = frugal_fuzz::json(data) {
        frugal_fuzz::check_client_request(Format::OpenAi, &body);
    }
});

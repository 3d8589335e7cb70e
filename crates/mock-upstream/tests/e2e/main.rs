//! End-to-end tests: each starts the mock on a free port and talks to it over real HTTP.

mod anthropic;
mod common;
mod faults;
mod misc;
mod openai;
mod responses;

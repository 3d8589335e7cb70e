//! Arbitrary bytes as an upstream SSE stream, cut at arbitrary points.
//!
//! Input layout: byte 0 = number of cuts n (mod 32), then n little-endian u16 cut offsets,
//! then the stream itself. Invariants:
//! - `SseDecoder` gives the same events however the stream is cut (here: at the n offsets,
//!   and byte by byte) as when fed whole;
//! - re-encoding those events (`SseEvent::raw_frame`) and decoding gives them back;
//! - both providers' `StreamDecoder`s never panic on any of the events, and whatever they
//!   decode, both clients' `StreamRenderer`s render without panicking into frames whose
//!   `data` is JSON (or OpenAI's `[DONE]`).
#![no_main]
use frugal_core::types::StreamEvent;
use frugal_core::wire::{anthropic, openai, SseDecoder, SseEvent};
use libfuzzer_sys::fuzz_target;

fn decode(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out: Vec<SseEvent> = pieces.iter().flat_map(|p| d.push(p)).collect();
    out.extend(d.finish());
    out
}

fn frame_is_json(frame: &[u8]) {
    for ev in decode(&[frame]) {
        assert!(
            ev.data == "[DONE]" || serde_json::from_str::<serde_json::Value>(&ev.data).is_ok(),
            "rendered frame is not JSON: {:?}",
            ev.data
        );
    }
}

/// One provider's decoded stream through both clients' renderers.
fn render(events: &[StreamEvent]) {
    let mut o = openai::StreamRenderer::new(true);
    let mut a = anthropic::StreamRenderer::new();
    for ev in events {
        for f in o.render(ev).iter().chain(a.render(ev).iter()) {
            frame_is_json(&f[..]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 32);
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();

    let whole = decode(&[stream]);
    let mut pieces = Vec::new();
    let mut start = 0;
    for c in cuts {
        pieces.push(&stream[start..c]);
        start = c;
    }
    pieces.push(&stream[start..]);
    assert_eq!(decode(&pieces), whole, "cut at {pieces:?}");
    let singles: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(&singles), whole, "fed byte by byte");

    let encoded: String = whole.iter().map(SseEvent::raw_frame).collect();
    assert_eq!(
        decode(&[encoded.as_bytes()]),
        whole,
        "re-encoded: {encoded:?}"
    );

    let mut od = openai::StreamDecoder::new();
    let mut ad = anthropic::StreamDecoder::new();
    let (mut from_openai, mut from_anthropic) = (Vec::new(), Vec::new());
    for ev in &whole {
        if let Ok(evs) = od.decode(ev) {
            from_openai.extend(evs);
        }
        if let Ok(evs) = ad.decode(ev) {
            from_anthropic.extend(evs);
        }
    }
    let _ = ad.skipped_blocks();
    render(&from_openai);
    render(&from_anthropic);
});

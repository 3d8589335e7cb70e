//! Server-sent events codec: an incremental decoder fed arbitrary byte chunks, and the
//! frame encoder. Knows nothing about what the events carry.
//!
//! Follows the WHATWG event-stream rules that matter for LLM APIs: `\n`, `\r\n` and `\r`
//! line ends (a `\r\n` split across chunks counts once), `:` comments, several `data:`
//! lines joined by `\n`, one optional space after the colon, a leading BOM. `id:` and
//! `retry:` are ignored. Lines are decoded only once complete, so UTF-8 split across
//! chunks is safe; invalid UTF-8 becomes U+FFFD.

use bytes::Bytes;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name, when the frame had one.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// This event encoded as one SSE frame (for byte-for-byte passthrough).
    pub fn raw_frame(&self) -> String {
        encode(self.event.as_deref(), &self.data)
    }
}

/// Encode one SSE frame: `event: <name>\n` (when given), one `data:` line per line of
/// `data`, and the blank line that ends the frame.
pub fn frame(event: Option<&str>, data: &str) -> Bytes {
    Bytes::from(encode(event, data))
}

fn encode(event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 16);
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

impl Default for SseDecoder {
    fn default() -> SseDecoder {
        SseDecoder::new()
    }
}

/// Incremental SSE decoder: feed it chunks as they arrive, get complete events back.
#[derive(Debug)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// No line has been completed yet (a BOM may still start the stream).
    first_line: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> SseDecoder {
        SseDecoder {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            event: None,
            data: String::new(),
            has_data: false,
        }
    }

    /// Feed the next chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.end_line(&mut out);
                    self.after_cr = true;
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// End of input: an event left without its closing blank line, if any.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.after_cr = false;
        self.dispatch(&mut out);
        out.pop()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let bytes = std::mem::take(&mut self.line);
        let decoded = String::from_utf8_lossy(&bytes);
        let mut line: &str = &decoded;
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if std::mem::take(&mut self.has_data) {
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| d.push(c)).collect();
        out.extend(d.finish());
        out
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Vec<SseEvent>)> = vec![
            ("data: a\n\n", vec![ev(None, "a")]),
            ("data:a\r\n\r\n", vec![ev(None, "a")]),
            ("data:  two spaces\r\r", vec![ev(None, " two spaces")]),
            (
                "event: message_start\ndata: {}\n\n",
                vec![ev(Some("message_start"), "{}")],
            ),
            ("data: a\ndata: b\n\n", vec![ev(None, "a\nb")]),
            (": keep-alive\n\ndata: x\n\n", vec![ev(None, "x")]),
            ("event: only-a-name\n\n", vec![]),
            ("data\n\n", vec![ev(None, "")]),
            ("data:\n\n", vec![ev(None, "")]),
            ("id: 7\nretry: 10\ndata: z\n\n", vec![ev(None, "z")]),
            ("\u{feff}data: bom\n\n", vec![ev(None, "bom")]),
            ("data: tail", vec![ev(None, "tail")]),
            ("data: tail\n", vec![ev(None, "tail")]),
            ("data: a\n\ndata: b\n\n", vec![ev(None, "a"), ev(None, "b")]),
            ("data: [DONE]\n\n", vec![ev(None, "[DONE]")]),
            ("data: x: y\n\n", vec![ev(None, "x: y")]),
        ];
        for (input, want) in cases {
            assert_eq!(decode_all(&[input.as_bytes()]), want, "input {input:?}");
        }
    }

    #[test]
    fn crlf_split_across_chunks_counts_once() {
        // "\r" | "\n" is one line end, so no blank line (and no dispatch) in between.
        assert_eq!(
            decode_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
            vec![ev(None, "a\nb")]
        );
    }

    #[test]
    fn utf8_split_across_chunks() {
        let s = "data: héllo ✓\n\n".as_bytes();
        for cut in 0..s.len() {
            assert_eq!(
                decode_all(&[&s[..cut], &s[cut..]]),
                vec![ev(None, "héllo ✓")]
            );
        }
    }

    #[test]
    fn frame_round_trips() {
        let e = ev(Some("content_block_delta"), "line1\nline2");
        assert_eq!(
            e.raw_frame(),
            "event: content_block_delta\ndata: line1\ndata: line2\n\n"
        );
        assert_eq!(&frame(None, "{}")[..], b"data: {}\n\n");
        assert_eq!(decode_all(&[e.raw_frame().as_bytes()]), vec![e]);
    }

    fn split_at(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for c in cuts {
            pieces.push(bytes[start..c].to_vec());
            start = c;
        }
        pieces.push(bytes[start..].to_vec());
        pieces
    }

    fn decode_pieces(pieces: &[Vec<u8>]) -> Vec<SseEvent> {
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        decode_all(&refs)
    }

    fn event_strategy() -> impl Strategy<Value = SseEvent> {
        let text = "[a-z {}\":,é✓\\[\\]]{0,12}";
        (
            proptest::option::of("[a-z_]{1,12}"),
            proptest::collection::vec(text, 1..4),
        )
            .prop_map(|(event, lines)| SseEvent {
                event,
                data: lines.join("\n"),
            })
    }

    proptest! {
        /// Arbitrary bytes (line ends, colons, multi-byte UTF-8 included) decode the same
        /// whether fed whole or cut anywhere into any number of pieces.
        #[test]
        fn any_split_decodes_like_whole(
            soup in proptest::collection::vec(
                prop_oneof![
                    Just(b"\n".to_vec()), Just(b"\r".to_vec()), Just(b"\r\n".to_vec()),
                    Just(b"data: ".to_vec()), Just(b"event:".to_vec()), Just(b":".to_vec()),
                    Just("é✓".as_bytes().to_vec()), Just(vec![0xff]),
                    "[a-z ]{0,5}".prop_map(String::into_bytes),
                ],
                0..60,
            ),
            cuts in proptest::collection::vec(0usize..10_000, 0..40),
        ) {
            let bytes: Vec<u8> = soup.concat();
            let whole = decode_pieces(std::slice::from_ref(&bytes));
            prop_assert_eq!(decode_pieces(&split_at(&bytes, &cuts)), whole.clone());
            let singles: Vec<Vec<u8>> = bytes.iter().map(|b| vec![*b]).collect();
            prop_assert_eq!(decode_pieces(&singles), whole);
        }

        /// Encoded events, with comments and any one line-end style, decode back to
        /// themselves however the stream is cut.
        #[test]
        fn encoded_events_round_trip(
            events in proptest::collection::vec(event_strategy(), 0..8),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            comments in any::<bool>(),
            cuts in proptest::collection::vec(0usize..10_000, 0..20),
        ) {
            let mut text = String::new();
            for e in &events {
                if comments {
                    text.push_str(": ping\n");
                }
                text.push_str(&e.raw_frame());
            }
            let text = text.replace('\n', eol);
            let bytes = text.into_bytes();
            prop_assert_eq!(decode_pieces(&split_at(&bytes, &cuts)), events);
        }
    }
}

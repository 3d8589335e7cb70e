//! Errors hyper answers by itself, in the route's JSON format.
//!
//! A request head hyper cannot parse (a header block beyond its limit, a malformed header
//! line, `content-length: abc`, a request target too long) never reaches axum: hyper writes
//! `400` / `414` / `431` with an empty body and closes. A client of an API route must still
//! get an error it can read, in that route's format (OpenAI's on `/v1/chat/completions`,
//! `/v1/responses`, `/v1/embeddings`…, Anthropic's on `/v1/messages…`, frugal's own —
//! OpenAI-shaped, with a `code` — on the rest).
//!
//! Why an IO adapter, and not a parser in front of hyper: hyper stays the one HTTP parser
//! (no second opinion on what is valid to drift from it), and the adapter only has to
//! *follow* the byte stream, not judge it. [`JsonErrors`] wraps the accepted socket:
//!
//! - reading, it follows the request framing (heads line by line, bodies by
//!   `content-length` or chunk sizes — skipped, never copied) and notes each request's
//!   route shape and method as its request line arrives, in order, so pipelined requests
//!   and every request of a kept-alive connection are covered;
//! - writing, it holds each response head (a few hundred bytes) until it is complete, then
//!   pairs it with the oldest unanswered request. A head hyper generated itself — an error
//!   status, `content-length: 0`, no header but `connection` and `date` — becomes the
//!   same status with a JSON body in that request's format, `connection: close`. Bodies pass straight through
//!   (vectored writes stay vectored); every handler of ours sends a body with a
//!   `content-type` (and the `x-frugal-*` headers), so none is ever rewritten.
//! - dropped while a request head is half received (hyper's header timeout fired, or the
//!   client went away mid-head), it leaves a `408` in JSON on the socket when the socket
//!   takes it at once (best effort; the connection closes either way).
//!
//! Anything it cannot follow (HTTP/2, an upgrade, a length it cannot read) turns it into a
//! plain pass-through for the rest of the connection; it never fails a connection itself.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of a request line or header line kept to classify it (the route's prefix, a
/// `content-length` value); the rest of a longer line is counted, not stored.
const LINE_CAP: usize = 512;
/// A response head longer than this is not hyper's (its own heads are ~80 bytes): it is
/// passed on and the connection is no longer followed.
const HEAD_CAP: usize = 16 * 1024;
/// Requests read ahead of their answers that are remembered (hyper's read buffer bounds
/// how many there can be; this only guards the memory).
const QUEUE_CAP: usize = 4096;

/// The error format of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `{"error": {"message", "type", "param", "code"}}`: OpenAI's routes and frugal's own.
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`: `/v1/messages` and below.
    Anthropic,
}

/// The format of the route a request target names (origin or absolute form).
pub(super) fn shape_of(target: &[u8]) -> Shape {
    let mut path = target;
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() >= scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = rest
                .iter()
                .position(|&b| b == b'/')
                .map_or(&b""[..], |i| &rest[i..]);
        }
    }
    let prefix = b"/v1/messages";
    if path.starts_with(prefix) && matches!(path.get(prefix.len()), None | Some(b'/' | b'?')) {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    }
}

/// The complete HTTP/1.1 response that replaces hyper's empty one: same status, a JSON
/// body in `shape`, and the connection closed after it (hyper closes it anyway).
pub(super) fn render(status: u16, shape: Shape) -> Vec<u8> {
    let (reason, message, openai_type, anthropic_type, code) = match status {
        431 => (
            "Request Header Fields Too Large",
            "the request's headers are larger than the gateway accepts",
            "invalid_request_error",
            "request_too_large",
            "request_header_fields_too_large",
        ),
        414 => (
            "URI Too Long",
            "the request target is longer than the gateway accepts",
            "invalid_request_error",
            "request_too_large",
            "uri_too_long",
        ),
        408 => (
            "Request Timeout",
            "the request's headers did not arrive in time (server.header_timeout_secs)",
            "invalid_request_error",
            "timeout_error",
            "request_timeout",
        ),
        413 => (
            "Payload Too Large",
            "the request is larger than the gateway accepts",
            "invalid_request_error",
            "request_too_large",
            "request_too_large",
        ),
        _ => (
            "Bad Request",
            "the request's head could not be parsed: a malformed request line or header \
             line, or an invalid content-length or transfer-encoding",
            "invalid_request_error",
            "invalid_request_error",
            "malformed_request",
        ),
    };
    let body = match shape {
        Shape::OpenAi => serde_json::json!({ "error": {
            "message": message, "type": openai_type, "param": null, "code": code } }),
        Shape::Anthropic => serde_json::json!({ "type": "error", "error": {
            "type": anthropic_type, "message": message } }),
    }
    .to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A request whose request line has been read and whose response head has not been
/// written yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    shape: Shape,
    /// A `HEAD` request: its response has no body whatever its `content-length` says.
    head_method: bool,
}

/// Following chunked framing (`size[;ext]\r\n data \r\n` … `0\r\n trailers \r\n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunks {
    Size { n: u64, digits: u8, ext: bool },
    Data(u64),
    DataEnd,
    Trailer { line_start: bool },
}

impl Chunks {
    const START: Chunks = Chunks::Size {
        n: 0,
        digits: 0,
        ext: false,
    };

    /// Follow `bytes`: how many belong to the chunked body, and whether it ended there.
    /// `Err` when the framing is not valid (the peer of hyper will reject it anyway).
    fn step(&mut self, bytes: &[u8]) -> Result<(usize, bool), ()> {
        let mut i = 0;
        while i < bytes.len() {
            match self {
                Chunks::Data(n) => {
                    let take = (*n).min((bytes.len() - i) as u64);
                    // `take` is at most the remaining slice length: it fits a usize.
                    i += usize::try_from(take).map_err(|_| ())?;
                    *n -= take;
                    if *n == 0 {
                        *self = Chunks::DataEnd;
                    }
                    continue;
                }
                Chunks::Size { n, digits, ext } => match bytes[i] {
                    b'\n' => {
                        if *digits == 0 {
                            return Err(());
                        }
                        *self = if *n == 0 {
                            Chunks::Trailer { line_start: true }
                        } else {
                            Chunks::Data(*n)
                        };
                    }
                    b'\r' => {}
                    _ if *ext => {}
                    b';' | b' ' | b'\t' => *ext = true,
                    b => {
                        let d = (b as char).to_digit(16).ok_or(())?;
                        if *digits >= 15 {
                            return Err(());
                        }
                        *n = *n * 16 + u64::from(d);
                        *digits += 1;
                    }
                },
                Chunks::DataEnd => match bytes[i] {
                    b'\r' => {}
                    b'\n' => *self = Chunks::START,
                    _ => return Err(()),
                },
                Chunks::Trailer { line_start } => match bytes[i] {
                    b'\n' if *line_start => return Ok((i + 1, true)),
                    b'\n' => *line_start = true,
                    b'\r' => {}
                    _ => *line_start = false,
                },
            }
            i += 1;
        }
        Ok((i, false))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// In a request head (or before one): `line` is the line number within it.
    Head {
        line: u32,
    },
    Body(u64),
    Chunked(Chunks),
    /// Not HTTP/1 any more (HTTP/2, an upgrade) or framing it cannot follow.
    Opaque,
}

/// What the bytes read so far say about the requests on the connection.
#[derive(Debug)]
struct Incoming {
    state: ReadState,
    /// The current line's first `LINE_CAP` bytes, and its full length.
    line: Vec<u8>,
    line_len: usize,
    /// The head being read: its request's shape, its framing.
    shape: Option<Shape>,
    length: Option<u64>,
    chunked: bool,
    unknown_framing: bool,
}

impl Incoming {
    fn new() -> Incoming {
        Incoming {
            state: ReadState::Head { line: 0 },
            line: Vec::with_capacity(LINE_CAP),
            line_len: 0,
            shape: None,
            length: None,
            chunked: false,
            unknown_framing: false,
        }
    }

    /// A head has started arriving and is not complete (blank lines before it excluded).
    fn mid_head(&self) -> bool {
        match self.state {
            ReadState::Head { line: 0 } => {
                self.line_len > 0 && self.line.iter().any(|b| *b != b'\r')
            }
            ReadState::Head { .. } => true,
            _ => false,
        }
    }

    /// The shape of the request whose head is being read, from what arrived of it.
    fn current_shape(&self) -> Shape {
        match (self.state, self.shape) {
            (_, Some(s)) => s,
            (ReadState::Head { line: 0 }, None) => {
                let target = self.line.split(|b| *b == b' ').nth(1).unwrap_or(&[]);
                shape_of(target)
            }
            _ => Shape::OpenAi,
        }
    }

    fn feed(&mut self, mut bytes: &[u8], queue: &mut VecDeque<Pending>) {
        while !bytes.is_empty() {
            match &mut self.state {
                ReadState::Opaque => return,
                ReadState::Body(n) => {
                    let take = (*n).min(bytes.len() as u64);
                    let Ok(k) = usize::try_from(take) else {
                        self.state = ReadState::Opaque;
                        return;
                    };
                    *n -= take;
                    bytes = &bytes[k..];
                    if *n == 0 {
                        self.state = ReadState::Head { line: 0 };
                    }
                }
                ReadState::Chunked(c) => match c.step(bytes) {
                    Ok((k, done)) => {
                        bytes = &bytes[k..];
                        if done {
                            self.state = ReadState::Head { line: 0 };
                        }
                    }
                    Err(()) => self.state = ReadState::Opaque,
                },
                ReadState::Head { .. } => {
                    let end = bytes.iter().position(|b| *b == b'\n');
                    let part = &bytes[..end.unwrap_or(bytes.len())];
                    let room = LINE_CAP.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&part[..part.len().min(room)]);
                    self.line_len = self.line_len.saturating_add(part.len());
                    match end {
                        None => return,
                        Some(i) => {
                            bytes = &bytes[i + 1..];
                            self.end_of_line(queue);
                        }
                    }
                }
            }
        }
    }

    fn end_of_line(&mut self, queue: &mut VecDeque<Pending>) {
        let ReadState::Head { line } = self.state else {
            return;
        };
        // Taken out while it is read (and given back, its capacity kept).
        let taken = std::mem::take(&mut self.line);
        let mut text = taken.as_slice();
        if text.last() == Some(&b'\r') {
            text = &text[..text.len() - 1];
        }
        let complete = self.line_len <= LINE_CAP;
        if line == 0 {
            // hyper skips blank lines before a request.
            if !text.is_empty() {
                self.request_line(text, queue);
            }
        } else if text.is_empty() {
            self.end_of_head();
        } else {
            self.header_line(text, complete);
            self.state = ReadState::Head {
                line: line.saturating_add(1),
            };
        }
        self.line = taken;
        self.line.clear();
        self.line_len = 0;
    }

    fn request_line(&mut self, text: &[u8], queue: &mut VecDeque<Pending>) {
        let mut parts = text.split(|b| *b == b' ').filter(|p| !p.is_empty());
        let method = parts.next().unwrap_or(&[]);
        let target = parts.next().unwrap_or(&[]);
        let version = parts.next().unwrap_or(&[]);
        if version.starts_with(b"HTTP/2") {
            // The HTTP/2 preface: frames from here on.
            self.state = ReadState::Opaque;
            return;
        }
        let shape = shape_of(target);
        self.shape = Some(shape);
        if queue.len() >= QUEUE_CAP {
            self.state = ReadState::Opaque;
            return;
        }
        queue.push_back(Pending {
            shape,
            head_method: method == b"HEAD",
        });
        self.state = ReadState::Head { line: 1 };
    }

    fn header_line(&mut self, text: &[u8], complete: bool) {
        let Some(colon) = text.iter().position(|b| *b == b':') else {
            return;
        };
        let name = &text[..colon];
        let value = text[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|v| complete && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (parsed, self.length) {
                (Some(n), None) => self.length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => self.unknown_framing = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value
                .rsplit(|b| *b == b',')
                .next()
                .unwrap_or(&[])
                .trim_ascii();
            if complete && last.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else {
                self.unknown_framing = true;
            }
        }
    }

    fn end_of_head(&mut self) {
        self.state = if self.unknown_framing {
            // hyper rejects such a head; nothing after it is read as HTTP.
            ReadState::Opaque
        } else if self.chunked {
            ReadState::Chunked(Chunks::START)
        } else {
            match self.length {
                Some(n) if n > 0 => ReadState::Body(n),
                _ => ReadState::Head { line: 0 },
            }
        };
        self.shape = None;
        self.length = None;
        self.chunked = false;
        self.unknown_framing = false;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    /// Collecting a response head in `held`.
    Head,
    Body(u64),
    Chunked(Chunks),
    /// Passing everything on unexamined.
    Opaque,
}

impl WriteState {
    /// How many of `bytes` can go out as they are before a response head starts.
    fn passes(&mut self, bytes: &[u8]) -> usize {
        match self {
            WriteState::Head => 0,
            WriteState::Opaque => bytes.len(),
            WriteState::Body(n) => {
                let take = (*n).min(bytes.len() as u64);
                *n -= take;
                if *n == 0 {
                    *self = WriteState::Head;
                }
                usize::try_from(take).unwrap_or(bytes.len())
            }
            WriteState::Chunked(c) => match c.step(bytes) {
                Ok((k, done)) => {
                    if done {
                        *self = WriteState::Head;
                    }
                    k
                }
                Err(()) => {
                    *self = WriteState::Opaque;
                    bytes.len()
                }
            },
        }
    }

    /// Follow `bufs` from this state: the number of leading bytes that pass unexamined.
    fn passes_all(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut total = 0;
        for b in bufs {
            let k = self.passes(b);
            total += k;
            if k < b.len() {
                break;
            }
        }
        total
    }
}

/// What is known about the response head in `held` once it is complete.
struct ResponseHead {
    status: u16,
    length: Option<u64>,
    chunked: bool,
    /// A header beyond the three hyper puts on its own answers (`connection`,
    /// `content-length`, `date`): `content-type`, `x-frugal-*`…
    other: bool,
}

fn parse_response_head(bytes: &[u8]) -> Option<ResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    if !matches!(resp.parse(bytes), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let status = resp.code?;
    let mut head = ResponseHead {
        status,
        length: None,
        chunked: false,
        other: false,
    };
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            head.length = std::str::from_utf8(h.value).ok()?.trim().parse().ok();
            head.length?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = true;
        } else if !h.name.eq_ignore_ascii_case("connection") && !h.name.eq_ignore_ascii_case("date")
        {
            head.other = true;
        }
    }
    Some(head)
}

/// The last thing said on a connection being dropped: a write that never waits.
pub(super) trait WriteNow {
    /// Write what the socket takes at once (`WouldBlock` when nothing).
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize>;
}

impl WriteNow for tokio::net::TcpStream {
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }
}

/// The accepted socket as hyper sees it: hyper's own error answers rewritten as JSON in
/// the route's format (see the module docs).
pub(super) struct JsonErrors<T: WriteNow> {
    io: T,
    incoming: Incoming,
    queue: VecDeque<Pending>,
    state: WriteState,
    /// A response head being collected, or a complete one (`held_ready`) being sent.
    held: Vec<u8>,
    held_ready: bool,
    held_sent: usize,
}

impl<T: WriteNow> JsonErrors<T> {
    pub(super) fn new(io: T) -> JsonErrors<T> {
        JsonErrors {
            io,
            incoming: Incoming::new(),
            queue: VecDeque::new(),
            state: WriteState::Head,
            held: Vec::new(),
            held_ready: false,
            held_sent: 0,
        }
    }

    /// Take head bytes from `bufs` into `held`; decide once the head is complete. Returns
    /// how many bytes were taken.
    fn collect_head(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut taken = 0;
        for b in bufs {
            for (i, byte) in b.iter().enumerate() {
                self.held.push(*byte);
                if self.held.len() <= 5 && !b"HTTP/".starts_with(&self.held) {
                    // Not an HTTP/1 response (HTTP/2 frames): stop following.
                    self.give_up();
                    return taken + i + 1;
                }
                if self.held.ends_with(b"\r\n\r\n") {
                    self.head_complete();
                    return taken + i + 1;
                }
                if self.held.len() >= HEAD_CAP {
                    self.give_up();
                    return taken + i + 1;
                }
            }
            taken += b.len();
        }
        taken
    }

    /// Send what is held as it is and stop following the connection.
    fn give_up(&mut self) {
        self.state = WriteState::Opaque;
        self.incoming.state = ReadState::Opaque;
        self.held_ready = true;
    }

    fn head_complete(&mut self) {
        self.held_ready = true;
        let Some(head) = parse_response_head(&self.held) else {
            self.give_up();
            return;
        };
        if head.status == 101 {
            // Switching protocols: not HTTP/1 any more.
            self.give_up();
            return;
        }
        if head.status < 200 {
            // `100 Continue`: the final answer to the same request follows.
            self.state = WriteState::Head;
            return;
        }
        let request = self.queue.pop_front();
        let generated =
            head.status >= 400 && head.length == Some(0) && !head.chunked && !head.other;
        if generated {
            let shape = request.map_or_else(|| self.incoming.current_shape(), |r| r.shape);
            self.held = render(head.status, shape);
            // hyper closes the connection after its own error answer.
            self.state = WriteState::Opaque;
            self.incoming.state = ReadState::Opaque;
            return;
        }
        let bodiless =
            request.is_some_and(|r| r.head_method) || head.status == 204 || head.status == 304;
        self.state = if bodiless {
            WriteState::Head
        } else if head.chunked {
            WriteState::Chunked(Chunks::START)
        } else {
            match head.length {
                Some(0) => WriteState::Head,
                Some(n) => WriteState::Body(n),
                // Delimited by the connection's end.
                None => WriteState::Opaque,
            }
        };
    }

    fn held_done(&mut self) {
        self.held.clear();
        self.held_ready = false;
        self.held_sent = 0;
    }

    /// Send the rest of a complete held head (before flushing or closing).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        T: AsyncWrite + Unpin,
    {
        if !self.held_ready && !self.held.is_empty() {
            // A head still incomplete when hyper flushes: not one hyper made in one go.
            self.give_up();
        }
        while self.held_ready {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.held[self.held_sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held_sent += n;
            if self.held_sent >= self.held.len() {
                self.held_done();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: WriteNow> Drop for JsonErrors<T> {
    fn drop(&mut self) {
        // A head half received and nothing written for it: hyper's header timeout (or the
        // client left mid-head). Say so in the route's format if the socket takes it now.
        if self.incoming.mid_head() && self.state == WriteState::Head && self.held.is_empty() {
            let _ = self
                .io
                .write_now(&render(408, self.incoming.current_shape()));
        }
    }
}

impl<T: AsyncRead + WriteNow + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if this.incoming.state != ReadState::Opaque {
            this.incoming.feed(&buf.filled()[before..], &mut this.queue);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + WriteNow + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        loop {
            if this.held_ready {
                // The held head goes out with as much of `bufs` as passes after it, in
                // one write.
                let pass = {
                    let mut s = this.state;
                    s.passes_all(bufs)
                };
                let mut slices = Vec::with_capacity(bufs.len() + 1);
                slices.push(IoSlice::new(&this.held[this.held_sent..]));
                push_prefix(&mut slices, bufs, pass);
                let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, &slices))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                let from_held = n.min(this.held.len() - this.held_sent);
                this.held_sent += from_held;
                if this.held_sent >= this.held.len() {
                    this.held_done();
                }
                let rest = n - from_held;
                if rest > 0 {
                    this.advance(bufs, rest);
                    return Poll::Ready(Ok(rest));
                }
                continue;
            }
            if this.state == WriteState::Head {
                return Poll::Ready(Ok(this.collect_head(bufs)));
            }
            let pass = {
                let mut s = this.state;
                s.passes_all(bufs)
            };
            if pass == total {
                let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
                this.advance(bufs, n);
                return Poll::Ready(Ok(n));
            }
            let mut slices = Vec::with_capacity(bufs.len());
            push_prefix(&mut slices, bufs, pass);
            let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, &slices))?;
            this.advance(bufs, n);
            return Poll::Ready(Ok(n));
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<T: WriteNow> JsonErrors<T> {
    /// `n` leading bytes of `bufs` went out: follow them.
    fn advance(&mut self, bufs: &[IoSlice<'_>], mut n: usize) {
        for b in bufs {
            if n == 0 {
                return;
            }
            let part = &b[..n.min(b.len())];
            n -= part.len();
            let passed = self.state.passes(part);
            debug_assert_eq!(passed, part.len(), "only passing bytes are written");
        }
    }
}

/// The first `n` bytes of `bufs`, as slices appended to `out`.
fn push_prefix<'a>(out: &mut Vec<IoSlice<'a>>, bufs: &'a [IoSlice<'_>], mut n: usize) {
    for b in bufs {
        if n == 0 {
            return;
        }
        let k = n.min(b.len());
        out.push(IoSlice::new(&b[..k]));
        n -= k;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A socket double: reads come in `read_chunk`-byte pieces, writes are taken at most
    /// `write_max` bytes at a time; everything written (and the last word) is recorded.
    struct Sock {
        input: Vec<u8>,
        pos: usize,
        read_chunk: usize,
        write_max: usize,
        out: Arc<Mutex<Vec<u8>>>,
    }

    fn sock(input: &[u8], read_chunk: usize, write_max: usize) -> (Sock, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let s = Sock {
            input: input.to_vec(),
            pos: 0,
            read_chunk,
            write_max,
            out: out.clone(),
        };
        (s, out)
    }

    impl AsyncRead for Sock {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .read_chunk
                .min(self.input.len() - self.pos)
                .min(buf.remaining());
            let from = self.pos;
            buf.put_slice(&self.input[from..from + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Sock {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = b.len().min(self.write_max);
            self.out.lock().unwrap().extend_from_slice(&b[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut left = self.write_max;
            let mut out = self.out.lock().unwrap();
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                out.extend_from_slice(&b[..k]);
                n += k;
                left -= k;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl WriteNow for Sock {
        fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
            self.out.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    impl WriteNow for tokio::io::DuplexStream {
        fn write_now(&self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    const HYPER_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 08 Dec 2026 01:23:21 GMT\r\n\r\n";

    /// Read everything `input` holds through the adapter, then write `pieces` one by one
    /// (each with `write_all`) and flush: what reached the socket.
    async fn run(input: &[u8], read_chunk: usize, write_max: usize, pieces: &[&[u8]]) -> Vec<u8> {
        run_followed(input, read_chunk, write_max, pieces).await.0
    }

    /// `run`, and whether the adapter still followed both directions at the end.
    async fn run_followed(
        input: &[u8],
        read_chunk: usize,
        write_max: usize,
        pieces: &[&[u8]],
    ) -> (Vec<u8>, bool) {
        let (s, out) = sock(input, read_chunk, write_max);
        let mut io = JsonErrors::new(s);
        let mut sink = Vec::new();
        io.read_to_end(&mut sink).await.unwrap();
        assert_eq!(sink, input, "reads are passed on untouched");
        for p in pieces {
            io.write_all(p).await.unwrap();
        }
        io.flush().await.unwrap();
        let followed =
            io.state == WriteState::Head && io.incoming.state == (ReadState::Head { line: 0 });
        drop(io);
        let got = out.lock().unwrap().clone();
        (got, followed)
    }

    fn body_of(response: &[u8]) -> serde_json::Value {
        let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        serde_json::from_slice(&response[at + 4..]).unwrap()
    }

    #[test]
    fn routes_map_to_their_formats() {
        assert_eq!(shape_of(b"/v1/messages"), Shape::Anthropic);
        assert_eq!(shape_of(b"/v1/messages/count_tokens"), Shape::Anthropic);
        assert_eq!(shape_of(b"/v1/messages?beta=true"), Shape::Anthropic);
        assert_eq!(shape_of(b"http://gw:8080/v1/messages"), Shape::Anthropic);
        assert_eq!(shape_of(b"/v1/messagesx"), Shape::OpenAi);
        assert_eq!(shape_of(b"/v1/chat/completions"), Shape::OpenAi);
        assert_eq!(shape_of(b"/v1/feedback"), Shape::OpenAi);
        assert_eq!(shape_of(b""), Shape::OpenAi);
        let a = body_of(&render(431, Shape::Anthropic));
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "request_too_large");
        let o = body_of(&render(400, Shape::OpenAi));
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["code"], "malformed_request");
        assert!(o["error"].get("param").is_some());
    }

    #[tokio::test]
    async fn hypers_error_arriving_in_pieces_is_rewritten_in_the_requests_format() {
        let input = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nno header here\r\n\r\n";
        let pieces: Vec<&[u8]> = HYPER_400.chunks(7).collect();
        for (read_chunk, write_max) in [(1, 1), (5, 3), (4096, 4096)] {
            let out = run(input, read_chunk, write_max, &pieces).await;
            assert_eq!(out, render(400, Shape::Anthropic));
        }
        let input = b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: abc\r\n\r\n";
        let out = run(input, 4096, 4096, &[HYPER_400]).await;
        assert_eq!(out, render(400, Shape::OpenAi));
    }

    #[tokio::test]
    async fn a_request_line_too_long_to_finish_still_names_its_route() {
        let mut input = b"GET /v1/messages/".to_vec();
        input.extend(std::iter::repeat_n(b'a', 100_000));
        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let out = run(&input, 8192, 4096, &[hyper_414]).await;
        assert_eq!(out, render(414, Shape::Anthropic));
    }

    #[tokio::test]
    async fn the_handlers_answers_pass_unchanged() {
        let input = b"POST /v1/messages HTTP/1.1\r\ncontent-length: 3\r\n\r\n{x}\
                      POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}\
                      GET /health HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n";
        let own_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                               content-length: 2\r\n\r\n{}";
        // A stream whose text quotes an empty error head, chunk by chunk.
        let sse: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                           transfer-encoding: chunked\r\n\r\n\
                           2f\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n\r\n\
                           0\r\n\r\n";
        let empty_ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        // An empty error of a handler: it carries headers of its own.
        let empty_429: &[u8] =
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n";
        for (read_chunk, write_max) in [(1, 1), (3, 5), (4096, 4096)] {
            let (out, followed) = run_followed(
                input,
                read_chunk,
                write_max,
                &[own_400, sse, empty_ok, empty_429],
            )
            .await;
            assert_eq!(out, [own_400, sse, empty_ok, empty_429].concat());
            assert!(followed, "every head and body was followed to its end");
            // The same bytes written in one buffer.
            let all = [own_400, sse, empty_ok, empty_429].concat();
            let out = run(input, read_chunk, write_max, &[&all]).await;
            assert_eq!(out, all);
        }
    }

    #[tokio::test]
    async fn pipelined_requests_are_paired_with_their_answers() {
        // A body that looks like a head, a chunked body, a HEAD whose answer has no body,
        // then a malformed head: hyper's 400 is for the last one.
        let input = b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 29\r\n\r\n\
                      GET /v1/messages HTTP/1.1\r\n\r\n\
                      POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
                      1b\r\nPOST /v1/chat/completions x\r\n0\r\nx-trailer: 1\r\n\r\n\
                      HEAD /v1/models HTTP/1.1\r\n\r\n\
                      \r\nPOST /v1/messages/count_tokens HTTP/1.1\r\nbad\r\n\r\n";
        let ok: &[u8] =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let head_ok: &[u8] =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 99\r\n\r\n";
        for read_chunk in [1, 2, 7, 4096] {
            let out = run(input, read_chunk, 4096, &[ok, ok, head_ok, HYPER_400]).await;
            let expected = [ok, ok, head_ok, &render(400, Shape::Anthropic)].concat();
            assert_eq!(out, expected, "read in {read_chunk}-byte pieces");
            let (_, followed) = run_followed(input, read_chunk, 4096, &[ok, ok, head_ok]).await;
            assert!(followed, "the framing was followed to the last head");
        }
        // The same with the malformed request on an OpenAI route after an Anthropic one.
        let input = b"POST /v1/messages HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}\
                      POST /v1/responses HTTP/1.1\r\ncontent-length: -1\r\n\r\n";
        let out = run(input, 3, 4096, &[ok, HYPER_400]).await;
        assert_eq!(out, [ok, &render(400, Shape::OpenAi)].concat());
    }

    #[tokio::test]
    async fn an_interim_continue_does_not_take_the_requests_place() {
        let input =
            b"POST /v1/messages HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n{}\
                      POST /v1/messages HTTP/1.1\r\nbad\r\n\r\n";
        let cont: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        let ok: &[u8] =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let out = run(input, 4096, 4096, &[cont, ok, HYPER_400]).await;
        assert_eq!(out, [cont, ok, &render(400, Shape::Anthropic)].concat());
    }

    #[tokio::test]
    async fn http2_passes_through() {
        let input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
        let frames: &[u8] =
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x00HTTP/1.1 400 x\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(run(input, 5, 3, &[frames]).await, frames);
    }

    #[tokio::test]
    async fn a_head_left_half_sent_gets_a_408_when_dropped() {
        let (s, out) = sock(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\n", 4096, 4096);
        let mut io = JsonErrors::new(s);
        let mut sink = Vec::new();
        io.read_to_end(&mut sink).await.unwrap();
        drop(io);
        assert_eq!(*out.lock().unwrap(), render(408, Shape::Anthropic));
        // An idle connection, or one whose request was whole, is closed without a word.
        for input in [&b""[..], b"\r\n", b"GET /health HTTP/1.1\r\n\r\n"] {
            let (s, out) = sock(input, 4096, 4096);
            let mut io = JsonErrors::new(s);
            io.read_to_end(&mut Vec::new()).await.unwrap();
            drop(io);
            assert!(out.lock().unwrap().is_empty(), "{input:?}");
        }
    }

    /// Against hyper itself: its empty answer to a malformed head becomes JSON, a good
    /// request on the same kind of connection is answered as usual.
    #[tokio::test]
    async fn hyper_serving_through_the_adapter() {
        use http_body_util::Full;
        use hyper::service::service_fn;

        async fn serve(request: &[u8]) -> Vec<u8> {
            let (client, server) = tokio::io::duplex(1 << 20);
            let service = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                    bytes::Bytes::from_static(b"hello"),
                )))
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(
                hyper_util::rt::TokioIo::new(JsonErrors::new(server)),
                service,
            );
            let task = tokio::spawn(conn);
            let (mut rd, mut wr) = tokio::io::split(client);
            wr.write_all(request).await.unwrap();
            wr.shutdown().await.unwrap();
            let mut out = Vec::new();
            rd.read_to_end(&mut out).await.unwrap();
            let _ = task.await;
            out
        }

        let out =
            serve(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n").await;
        assert_eq!(out, render(400, Shape::Anthropic));
        let mut big = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n".to_vec();
        for i in 0..200 {
            big.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        big.extend_from_slice(b"\r\n");
        assert_eq!(serve(&big).await, render(431, Shape::OpenAi));
        let out = serve(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /v1/messages HTTP/1.1\r\nhost: x\r\nbad\r\n\r\n").await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("\r\n\r\nhello"),
            "{text}"
        );
        assert!(out.ends_with(&render(400, Shape::Anthropic)), "{text}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any bytes either way, in any pieces: no panic, and what goes out is what was
        /// written unless it became one of the JSON answers.
        #[test]
        fn any_bytes_in_any_pieces(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            written in proptest::collection::vec(any::<u8>(), 0..400),
            read_chunk in 1usize..64,
            write_max in 1usize..64,
            piece in 1usize..64,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let pieces: Vec<&[u8]> = written.chunks(piece).collect();
            let out = rt.block_on(run(&input, read_chunk, write_max, &pieces));
            if out != written {
                prop_assert!(out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out));
                prop_assert!(out.windows(8).any(|w| w == b"\"error\":"));
            }
        }

        #[test]
        fn http_looking_bytes_in_any_pieces(
            parts in proptest::collection::vec(prop_oneof![
                Just(&b"POST /v1/messages HTTP/1.1\r\n"[..]),
                Just(&b"content-length: 3\r\n"[..]),
                Just(&b"transfer-encoding: chunked\r\n"[..]),
                Just(&b"\r\n"[..]),
                Just(&b"3\r\nabc\r\n0\r\n\r\n"[..]),
                Just(&b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..]),
                Just(&b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"[..]),
            ], 0..30),
            read_chunk in 1usize..16,
            write_max in 1usize..16,
        ) {
            let bytes = parts.concat();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(run(&bytes, read_chunk, write_max, &[&bytes]));
        }
    }
}

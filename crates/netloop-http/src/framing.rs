//! HTTP/1.1 request framing: where one request ends in a byte stream, so
//! pipelined requests can be taken one after another, with limits.
//!
//! [`parse`] is pure (bytes in, a request or an error out; no I/O, no
//! allocation) and split-independent: for any way the same stream arrives,
//! it returns the same requests and errors. The usual head (a method in
//! capitals, an origin-form target and header values of visible ASCII,
//! CRLF line ends, the header rules below met) is read in one pass here,
//! eight bytes at a time where it can; any other head, and one not yet
//! complete, is left to `httparse`, which decides (a unit test checks that
//! both read the same heads alike). Around the head this module adds what
//! `httparse` leaves out: the body (`Content-Length` or `chunked`),
//! the limits, the checks that stop request smuggling (both lengths given,
//! conflicting lengths, a transfer coding list not ending in `chunked`,
//! chunk lines with stray bytes or bare LFs), the `Host` rules and the
//! request target's form (RFC 9112 §3.2).
//!
//! The common request costs little extra: an origin-form target is
//! recognised by its first byte, a chunk-size line without extension by
//! its digits and CRLF, a `Host` value by a table look per byte; chunk
//! extensions, trailer fields and absolute-form targets are checked only
//! when present, all without allocating.
//!
//! ```text
//!  input: | head (≤ max_head) | body (≤ max_body on the wire) | next request ...
//!         └──────────── Complete { len } ────────────────────┘
//! ```
//!
//! While a request is incomplete the caller keeps its bytes and calls again
//! with more; [`Parse::Partial`] (or [`Parse::HeadOnly`], for a client
//! waiting for `100 Continue`) is only returned while fewer than
//! [`Limits::max_request`] bytes are buffered, so a server using this module
//! never buffers more than that per connection.
//!
//! The fuzz targets (`fuzz/`, and their stable harness
//! `tests/fuzz_http_framing.rs`) and the property tests
//! (`tests/http_framing_props.rs`) check, for any input: no panic;
//! `Complete { len }` has `0 < len <= input.len()` and `len <=
//! max_request()`; `Partial` and `HeadOnly` only below `max_request()`
//! bytes; and feeding the same bytes in any split gives the same requests
//! and the same final error.

use std::fmt;
use std::mem::MaybeUninit;

/// Most headers a request may have (more: [`FrameError::HeadTooLarge`]).
pub const MAX_HEADERS: usize = 64;

/// Size limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Request line and headers, including the blank line ending them.
    pub max_head: usize,
    /// Body as it is on the wire (for `chunked`, with the chunk framing).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_body: 64 * 1024,
        }
    }
}

impl Limits {
    /// The most bytes one request can occupy; [`parse`] never asks for more.
    pub const fn max_request(&self) -> usize {
        self.max_head + self.max_body
    }
}

/// One framed request, borrowing from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'b> {
    /// The method token, as sent (`GET`, `POST`, ...).
    pub method: &'b str,
    /// Where the request goes: in origin-form, the target as sent (path and
    /// query); for an `http`/`https` absolute-form target, its path and
    /// query, or `/` if its path is empty (RFC 9112 §3.2.2: the authority
    /// is the target's, the `Host` header's value is not used; `Host` must
    /// still be there once and valid, §3.2); any other target as sent.
    pub path: &'b str,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection stays open after the response: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The body, if any.
    pub body: Body<'b>,
}

/// The body of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'b> {
    /// No body.
    Empty,
    /// A `Content-Length` body.
    Fixed(&'b [u8]),
    /// A `chunked` body, checked and skipped; `len` is its decoded length.
    Chunked {
        /// Bytes of data in all chunks.
        len: usize,
    },
}

/// The outcome of [`parse`] on bytes that are not (yet) an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse<'b> {
    /// A whole request: it used the first `len` bytes of the input.
    Complete {
        /// The request.
        request: Request<'b>,
        /// Bytes it occupied, head and body.
        len: usize,
    },
    /// The input is the start of a request: call again with more bytes.
    Partial,
    /// The head is complete and asks for `100 Continue` (HTTP/1.1 with
    /// `Expect: 100-continue`), and the body has not all arrived: answer
    /// `100 Continue` (or a final status, then close) and call again with
    /// more bytes. `request.body` is [`Body::Empty`] until then. Returned
    /// only where [`Parse::Partial`] would be otherwise.
    HeadOnly {
        /// The request so far.
        request: Request<'b>,
    },
}

/// Why the input is not a request. After an error the stream cannot be
/// framed any further: answer [`status`](FrameError::status) and close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// Malformed request line or header (400).
    Malformed,
    /// HTTP/1.1 request without a `Host` header (400).
    MissingHost,
    /// More than one `Host` header, or one whose value is not
    /// `uri-host [ ":" port ]` (400, RFC 9112 §3.2).
    BadHost,
    /// A request target that is none of origin-form, absolute-form,
    /// authority-form (only for CONNECT) and asterisk-form (only for
    /// OPTIONS); or an `http(s)` absolute-form target with userinfo or
    /// without a valid host (400).
    BadTarget,
    /// A version other than HTTP/1.0 and HTTP/1.1 (505).
    UnsupportedVersion,
    /// Head longer than `max_head`, or more than [`MAX_HEADERS`] headers (431).
    HeadTooLarge,
    /// `Content-Length` not a number, or given twice with different values (400).
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`, or `Transfer-Encoding`
    /// in an HTTP/1.0 request: ambiguous framing (400).
    AmbiguousLength,
    /// `Transfer-Encoding` whose final coding is not `chunked`, or with
    /// `chunked` more than once: the body's length cannot be known (400,
    /// RFC 9112 §6.3 ¶4).
    ChunkedNotFinal,
    /// A transfer coding other than `chunked` before it (501).
    UnsupportedEncoding,
    /// Malformed chunk framing (400).
    BadChunk,
    /// Body longer than `max_body` (413).
    BodyTooLarge,
    /// An `Expect` other than `100-continue` (417).
    UnsupportedExpectation,
}

impl FrameError {
    /// The HTTP status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            FrameError::Malformed
            | FrameError::MissingHost
            | FrameError::BadHost
            | FrameError::BadTarget
            | FrameError::ChunkedNotFinal
            | FrameError::BadContentLength
            | FrameError::AmbiguousLength
            | FrameError::BadChunk => 400,
            FrameError::BodyTooLarge => 413,
            FrameError::UnsupportedExpectation => 417,
            FrameError::HeadTooLarge => 431,
            FrameError::UnsupportedEncoding => 501,
            FrameError::UnsupportedVersion => 505,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::Malformed => "malformed request line or header",
            FrameError::MissingHost => "HTTP/1.1 request without Host",
            FrameError::BadHost => "repeated or invalid Host",
            FrameError::BadTarget => "invalid request target",
            FrameError::ChunkedNotFinal => "transfer codings not ending in one chunked",
            FrameError::UnsupportedVersion => "unsupported HTTP version",
            FrameError::HeadTooLarge => "request head too large",
            FrameError::BadContentLength => "invalid Content-Length",
            FrameError::AmbiguousLength => "ambiguous body length",
            FrameError::UnsupportedEncoding => "unsupported transfer coding",
            FrameError::BadChunk => "malformed chunked body",
            FrameError::BodyTooLarge => "request body too large",
            FrameError::UnsupportedExpectation => "unsupported expectation",
        })
    }
}

/// Frames the first request of `buf`.
///
/// ```text
/// parse(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\n", &limits)
///     == Ok(Parse::Complete { request: Request { path: "/plaintext", .. }, len: 36 })
/// parse(b"GET /json HTTP/1.1\r\n", &limits) == Ok(Parse::Partial)
/// ```
pub fn parse<'b>(buf: &'b [u8], limits: &Limits) -> Result<Parse<'b>, FrameError> {
    // Look at no more than the head limit: whatever follows cannot change
    // the answer, so the result does not depend on how much has arrived.
    let window = &buf[..buf.len().min(limits.max_head)];
    let head = match plain_head(window) {
        Some(head) => head,
        None => match httparse_head(window, limits)? {
            Some(head) => head,
            None => return Ok(Parse::Partial),
        },
    };
    let rest = &buf[head.len..];
    let (body, body_len) = match head.fields.framing {
        Framing::None => (Body::Empty, Some(0)),
        Framing::Length(n) if n > limits.max_body as u64 => return Err(FrameError::BodyTooLarge),
        Framing::Length(n) => {
            let n = n as usize;
            (
                Body::Fixed(rest.get(..n).unwrap_or_default()),
                (rest.len() >= n).then_some(n),
            )
        }
        Framing::Chunked => match chunked_len(rest, limits.max_body)? {
            Some((wire, data)) => (Body::Chunked { len: data }, Some(wire)),
            None => (Body::Empty, None),
        },
    };
    let mut request = Request {
        method: head.method,
        path: head.path,
        minor_version: head.minor_version,
        keep_alive: head.fields.keep_alive,
        body,
    };
    let Some(body_len) = body_len else {
        if !head.fields.expect_continue {
            return Ok(Parse::Partial);
        }
        request.body = Body::Empty;
        return Ok(Parse::HeadOnly { request });
    };
    Ok(Parse::Complete {
        request,
        len: head.len + body_len,
    })
}

/// A complete, valid request head: the request line, what the headers say,
/// and the head's length (up to and including its blank line).
#[derive(Debug, PartialEq, Eq)]
struct RequestHead<'b> {
    method: &'b str,
    /// The target as routed (see [`Request::path`]).
    path: &'b str,
    minor_version: u8,
    fields: Head,
    len: usize,
}

/// Reads the head at the start of `window` with httparse, which decides
/// every case: `Ok(None)` while it is incomplete (below the head limit),
/// or the error the head makes.
fn httparse_head<'b>(
    window: &'b [u8],
    limits: &Limits,
) -> Result<Option<RequestHead<'b>>, FrameError> {
    // Uninitialised header slots: no 2 KiB memset per request.
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(window, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() < limits.max_head => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(FrameError::HeadTooLarge),
        Err(httparse::Error::TooManyHeaders) => return Err(FrameError::HeadTooLarge),
        Err(httparse::Error::Version) => return version_error(window, limits).map(|()| None),
        Err(_) => return Err(FrameError::Malformed),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(FrameError::Malformed);
    };
    let mut fields = HeadFields::default();
    for h in req.headers.iter() {
        fields.add(Field::of(h.name.as_bytes()), h.value)?;
    }
    Ok(Some(RequestHead {
        method,
        fields: fields.finish(minor_version)?,
        path: route_path(method, target)?,
        minor_version,
        len,
    }))
}

/// Reads the usual head in one pass: a method of capital letters, an
/// origin-form target of visible ASCII, `HTTP/1.1` or `HTTP/1.0`, at most
/// [`MAX_HEADERS`] headers of token names and visible-ASCII values, every
/// line ending in CRLF, and nothing the header rules refuse. `None` for
/// anything else, and while the head is incomplete: [`httparse_head`]
/// then decides. Where it answers, it answers what `httparse_head` would
/// (a unit test compares the two on many inputs).
fn plain_head(window: &[u8]) -> Option<RequestHead<'_>> {
    let (method, mut pos) = plain_method(window)?;
    let target_len = first_stop(&window[pos..], outside(b'!', b'~'), |b| !is_vchar(b))?;
    let target = &window[pos..pos + target_len];
    if target.first() != Some(&b'/') || window[pos + target_len] != b' ' || method == "CONNECT" {
        return None;
    }
    pos += target_len + 1;
    let minor_version = plain_version(window.get(pos..pos + 10)?)?;
    pos += 10;
    let mut fields = HeadFields::default();
    for _ in 0..=MAX_HEADERS {
        let rest = &window[pos..];
        if rest.starts_with(b"\r\n") {
            return Some(RequestHead {
                method,
                path: known(target, &KNOWN_PATHS)?,
                minor_version,
                fields: fields.finish(minor_version).ok()?,
                len: pos + 2,
            });
        }
        let (field, value, line_len) = plain_field_line(rest)?;
        fields.add(field, value).ok()?;
        pos += line_len;
    }
    // More headers than httparse takes: its error.
    None
}

/// The minor version of `HTTP/1.x` CRLF (x 0 or 1), compared as two words.
fn plain_version(line_end: &[u8]) -> Option<u8> {
    let (version, crlf) = line_end.split_at(8);
    if crlf != b"\r\n" {
        return None;
    }
    match u64::from_le_bytes(version.try_into().ok()?) {
        v if v == u64::from_le_bytes(*b"HTTP/1.1") => Some(1),
        v if v == u64::from_le_bytes(*b"HTTP/1.0") => Some(0),
        _ => None,
    }
}

/// The method at the start of a request line and where its target starts.
fn plain_method(window: &[u8]) -> Option<(&str, usize)> {
    if window.starts_with(b"GET ") {
        return Some(("GET", 4));
    }
    let len = window.iter().position(|b| !b.is_ascii_uppercase())?;
    if len == 0 || window[len] != b' ' {
        return None;
    }
    Some((known(&window[..len], &KNOWN_METHODS)?, len + 1))
}

/// `name ":" OWS value OWS CRLF` at the start of `rest`, with a token name
/// and a value of visible ASCII, spaces and tabs: (the field named, the
/// value without the whitespace around it, the line's length).
fn plain_field_line(rest: &[u8]) -> Option<(Field, &[u8], usize)> {
    let colon = |x: u64| outside(b'!', b'~')(x) | equal(b':')(x);
    let name_len = first_stop(rest, colon, |b| b == b':' || !is_vchar(b))?;
    let name = &rest[..name_len];
    if name.is_empty() || rest[name_len] != b':' {
        return None;
    }
    // A name spelled like a known one is a token: only others are checked.
    let field = Field::of(name);
    if field == Field::Other && !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let mut start = name_len + 1;
    while matches!(rest.get(start), Some(b' ' | b'\t')) {
        start += 1;
    }
    let mut end = start;
    loop {
        end += first_stop(&rest[end..], outside(b' ', b'~'), |b| {
            !is_visible_or_space(b)
        })?;
        if rest[end] != b'\t' {
            break;
        }
        end += 1;
    }
    if rest.get(end..end + 2)? != b"\r\n" {
        return None;
    }
    let value = &rest[start..end];
    let trailing_ws = value
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    Some((field, &value[..value.len() - trailing_ws], end + 2))
}

/// The index of the first byte of `bytes` that is a stop byte (`is_stop`),
/// eight bytes at a time: `stops` marks, in a word of eight bytes read
/// little-endian, the stop bytes by the high bit of their lane (only the
/// lowest mark needs to be exact: lanes above the first stop may be marked
/// wrongly).
fn first_stop(
    bytes: &[u8],
    stops: impl Fn(u64) -> u64,
    is_stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let marks = stops(word) & LANE_HIGH;
        if marks != 0 {
            return Some(at + marks.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&b| is_stop(b))?;
    Some(at + tail)
}

/// 0x01 in every byte lane of a word.
const LANE_ONES: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte lane of a word.
const LANE_HIGH: u64 = LANE_ONES * 0x80;

/// For [`first_stop`]: marks the bytes outside `lo..=hi` (`0 < lo <= hi <
/// 0x80`). A byte below `lo` borrows in `x - lo` (the borrow spoils only
/// lanes above it); a byte above `hi` sets the high bit in `x + 0x7f - hi`,
/// as does any byte from 0x80 up (its carry spoils only lanes above it).
fn outside(lo: u8, hi: u8) -> impl Fn(u64) -> u64 {
    move |x| {
        let below = x.wrapping_sub(LANE_ONES * u64::from(lo)) & !x;
        let above = x.wrapping_add(LANE_ONES * u64::from(0x7f - hi)) | x;
        below | above
    }
}

/// For [`first_stop`]: marks the bytes equal to `byte` (a zero lane of
/// `x ^ byte` borrows; as in [`outside`], only the lowest mark is exact).
fn equal(byte: u8) -> impl Fn(u64) -> u64 {
    move |x| {
        let zero_where_equal = x ^ (LANE_ONES * u64::from(byte));
        zero_where_equal.wrapping_sub(LANE_ONES) & !zero_where_equal
    }
}

/// `bytes` as a string, when it is one of `known` (the common methods and
/// paths: returned as constants, with no UTF-8 check); otherwise checked.
fn known<'b>(bytes: &'b [u8], known: &[&'static str]) -> Option<&'b str> {
    match known.iter().copied().find(|k| k.as_bytes() == bytes) {
        Some(k) => Some(k),
        None => std::str::from_utf8(bytes).ok(),
    }
}

/// The methods [`plain_method`] returns without a UTF-8 check.
const KNOWN_METHODS: [&str; 8] = [
    "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The paths [`plain_head`] returns without a UTF-8 check.
const KNOWN_PATHS: [&str; 3] = ["/plaintext", "/json", "/metrics"];

/// VCHAR (RFC 5234): what a request target is made of in [`plain_head`].
fn is_vchar(b: u8) -> bool {
    matches!(b, b'!'..=b'~')
}

/// VCHAR or space: what [`plain_field_line`] takes in a value, with tabs.
fn is_visible_or_space(b: u8) -> bool {
    matches!(b, b' '..=b'~')
}

/// How the body's end is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// What the headers say about framing and the connection.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    framing: Framing,
    keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request with a body (an
    /// HTTP/1.0 client cannot be sent `100 Continue`: it is ignored).
    expect_continue: bool,
}

/// The header fields that matter here, and the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Host,
    Expect,
    Connection,
    ContentLength,
    TransferEncoding,
    Other,
}

impl Field {
    /// The field a header name names (any case). Names are told apart by
    /// their length first, so most cost one comparison; `Host`, the one
    /// every request has, is compared as one word (setting bit 5 of each
    /// byte turns only `H`, `O`, `S`, `T` into the lower-case letters).
    fn of(name: &[u8]) -> Field {
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        match name.len() {
            4 if u32::from_le_bytes(name.try_into().expect("4 bytes")) | 0x2020_2020
                == u32::from_le_bytes(*b"host") =>
            {
                Field::Host
            }
            6 if is(b"expect") => Field::Expect,
            10 if is(b"connection") => Field::Connection,
            14 if is(b"content-length") => Field::ContentLength,
            17 if is(b"transfer-encoding") => Field::TransferEncoding,
            _ => Field::Other,
        }
    }
}

/// The headers that matter here, gathered one at a time ([`HeadFields::add`]),
/// then checked together ([`HeadFields::finish`]).
#[derive(Default)]
struct HeadFields {
    length: Option<u64>,
    codings: Codings,
    hosts: u32,
    expect_continue: bool,
    close: bool,
    keep: bool,
}

impl HeadFields {
    /// Takes one header (its value as httparse gives it: without
    /// surrounding whitespace).
    fn add(&mut self, field: Field, value: &[u8]) -> Result<(), FrameError> {
        match field {
            Field::Host => {
                // An empty value is valid (a target without authority).
                self.hosts += 1;
                if self.hosts > 1 || !valid_host(value) {
                    return Err(FrameError::BadHost);
                }
            }
            Field::Expect => {
                // 100-continue is the only expectation HTTP defines.
                if !trim(value).eq_ignore_ascii_case(b"100-continue") {
                    return Err(FrameError::UnsupportedExpectation);
                }
                self.expect_continue = true;
            }
            Field::Connection => {
                for token in value.split(|&b| b == b',').map(trim) {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            Field::ContentLength => {
                let n = parse_length(value)?;
                if self.length.is_some_and(|l| l != n) {
                    return Err(FrameError::BadContentLength);
                }
                self.length = Some(n);
            }
            Field::TransferEncoding => self.codings.add(value),
            Field::Other => {}
        }
        Ok(())
    }

    /// The framing and persistence of a request of this version with
    /// these headers, or why it has none.
    fn finish(self, minor_version: u8) -> Result<Head, FrameError> {
        if minor_version == 1 && self.hosts == 0 {
            return Err(FrameError::MissingHost);
        }
        let framing = match (self.length, self.codings.present) {
            (Some(_), true) => return Err(FrameError::AmbiguousLength),
            (None, true) if minor_version == 0 => return Err(FrameError::AmbiguousLength),
            (None, true) => {
                self.codings.check()?;
                Framing::Chunked
            }
            (Some(0), false) | (None, false) => Framing::None,
            (Some(n), false) => Framing::Length(n),
        };
        let keep_alive = !self.close && (minor_version == 1 || self.keep);
        Ok(Head {
            framing,
            keep_alive,
            expect_continue: self.expect_continue && minor_version == 1 && framing != Framing::None,
        })
    }
}

/// The transfer codings of all `Transfer-Encoding` lines, in order.
#[derive(Default)]
struct Codings {
    present: bool,
    /// The last coding named is `chunked`.
    chunked_last: bool,
    /// How many times `chunked` is named.
    chunked: u32,
    /// A coding other than `chunked` is named.
    other: bool,
}

impl Codings {
    /// Adds one header line's comma-separated list (empty elements ignored).
    fn add(&mut self, value: &[u8]) {
        self.present = true;
        for coding in value.split(|&b| b == b',').map(trim) {
            if coding.is_empty() {
                continue;
            }
            self.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            if self.chunked_last {
                self.chunked += 1;
            } else {
                self.other = true;
            }
        }
    }

    /// A request's codings must end in one `chunked` (RFC 9112 §6.3 ¶4:
    /// otherwise 400); any other coding before it is not implemented here.
    fn check(&self) -> Result<(), FrameError> {
        if !self.chunked_last || self.chunked > 1 {
            return Err(FrameError::ChunkedNotFinal);
        }
        if self.other {
            return Err(FrameError::UnsupportedEncoding);
        }
        Ok(())
    }
}

/// Where a request with target `target` goes (see [`Request::path`]), or
/// why the target is invalid (RFC 9112 §3.2). An origin-form target costs
/// one byte's look.
fn route_path<'b>(method: &str, target: &'b str) -> Result<&'b str, FrameError> {
    let bytes = target.as_bytes();
    if method == "CONNECT" {
        // authority-form: uri-host ":" port, nothing else.
        return match authority_port(bytes) {
            Some(port) if !port.is_empty() => Ok(target),
            _ => Err(FrameError::BadTarget),
        };
    }
    match bytes.first() {
        Some(b'/') => return Ok(target),
        Some(b'*') if bytes.len() == 1 && method == "OPTIONS" => return Ok(target),
        _ => {}
    }
    // absolute-form: scheme ":" hier-part.
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Err(FrameError::BadTarget);
    };
    let scheme = &bytes[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(FrameError::BadTarget);
    }
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        // Not ours to serve: routed as sent (nowhere).
        return Ok(target);
    }
    // "//" authority path-abempty [ "?" query ]; the authority must have a
    // host and no userinfo (RFC 9110 §4.2.1, §4.2.4).
    let Some(rest) = target[colon + 1..].strip_prefix("//") else {
        return Err(FrameError::BadTarget);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest.as_bytes()[..end];
    if authority_port(authority).is_none() {
        return Err(FrameError::BadTarget);
    }
    match &rest[end..] {
        "" => Ok("/"),
        // No path but a query: only the path is routed on.
        path if path.starts_with('?') => Ok("/"),
        path => Ok(path),
    }
}

/// Whether a `Host` value (trimmed by httparse) is valid: empty (a
/// target without authority) or `uri-host [ ":" port ]`. The usual value,
/// a name or IPv4 address with perhaps a port, costs a table look and an
/// add per byte; percent-encoding and IP literals take [`authority_port`].
fn valid_host(value: &[u8]) -> bool {
    let class: u64 = value.iter().map(|&b| HOST_CLASS[usize::from(b)]).sum();
    match class {
        // Empty, or reg-name bytes only.
        0 => true,
        // One colon: a host before it, digits after.
        1 => value
            .iter()
            .rposition(|&b| b == b':')
            .is_some_and(|colon| colon > 0 && value[colon + 1..].iter().all(u8::is_ascii_digit)),
        _ => authority_port(value).is_some(),
    }
}

/// For [`valid_host`]: 0 for a reg-name byte other than `%`, 1 for a colon,
/// 2^32 for anything else (a head is far shorter than 2^32 bytes, so the
/// sum over a value counts its colons in the low half).
static HOST_CLASS: [u64; 256] = {
    let mut table = [1u64 << 32; 256];
    let mut b = 0;
    while b < 256 {
        if REG_NAME[b] {
            table[b] = 0;
        }
        b += 1;
    }
    table[b':' as usize] = 1;
    table
};

/// The port of `value` if it is `uri-host [ ":" port ]` with a host (RFC
/// 3986: an IP literal in brackets, or a reg-name, which covers IPv4
/// addresses); empty if there is none. One pass, a table look per byte.
fn authority_port(value: &[u8]) -> Option<&[u8]> {
    let host_len = match value.first()? {
        b'[' => {
            // IPv6address or IPvFuture: hex digits, dots, colons, and the
            // unreserved and sub-delims characters of IPvFuture.
            let close = value.iter().position(|&b| b == b']')?;
            let inner = &value[1..close];
            let valid = inner.iter().all(|&b| b == b':' || REG_NAME[usize::from(b)]);
            (valid && !inner.is_empty()).then_some(close + 1)?
        }
        _ => reg_name_len(value),
    };
    match &value[host_len..] {
        _ if host_len == 0 => None,
        [] => Some(&[]),
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit).then_some(port),
        _ => None,
    }
}

/// The length of the reg-name (`*( unreserved / pct-encoded / sub-delims
/// )`) at the start of `value`.
fn reg_name_len(value: &[u8]) -> usize {
    let mut i = 0;
    loop {
        i += value[i..]
            .iter()
            .take_while(|&&b| REG_NAME[usize::from(b)])
            .count();
        match value.get(i..i + 3) {
            Some([b'%', hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => i += 3,
            _ => return i,
        }
    }
}

/// unreserved and sub-delims (RFC 3986 §2.2, §2.3): a reg-name's bytes but
/// for percent-encoding.
static REG_NAME: [bool; 256] = byte_class(b"-._~!$&'()*+,;=");

/// tchar (RFC 9110 §5.6.2).
static TCHAR: [bool; 256] = byte_class(b"!#$%&'*+-.^_`|~");

/// A table of the ASCII letters and digits and `extra`.
const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// A `Content-Length` value: decimal digits only, no sign, no overflow.
fn parse_length(value: &[u8]) -> Result<u64, FrameError> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::BadContentLength);
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Finds the end of a chunked body at the start of `buf`: `Some((bytes on
/// the wire, bytes of data))`, or `None` if more input is needed. The body
/// may take at most `max_wire` bytes on the wire.
fn chunked_len(buf: &[u8], max_wire: usize) -> Result<Option<(usize, usize)>, FrameError> {
    let window = &buf[..buf.len().min(max_wire)];
    let need_more = || {
        if window.len() < max_wire {
            Ok(None)
        } else {
            Err(FrameError::BodyTooLarge)
        }
    };
    let (mut pos, mut data) = (0usize, 0usize);
    loop {
        let Some((line_len, size)) = chunk_size_line(&window[pos..])? else {
            return need_more();
        };
        pos += line_len;
        if size == 0 {
            return match trailer_end(&window[pos..])? {
                Some(end) => Ok(Some((pos + end, data))),
                None => need_more(),
            };
        }
        // A chunk that cannot fit is refused now, not once it has arrived.
        let end = (pos as u64).saturating_add(size).saturating_add(2);
        if end > max_wire as u64 {
            return Err(FrameError::BodyTooLarge);
        }
        let end = end as usize;
        if window.len() < end {
            return need_more();
        }
        if &window[end - 2..end] != b"\r\n" {
            return Err(FrameError::BadChunk);
        }
        data += size as usize;
        pos = end;
    }
}

/// Reads the chunk-size line at the start of `line` (RFC 9112 §7.1):
///
/// ```text
/// chunk-size [ chunk-ext ] CRLF
/// chunk-size = 1*HEXDIG
/// chunk-ext  = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
/// ext-name   = token;  ext-val = token / quoted-string
/// ```
///
/// Returns `Some((line length, size))`, `None` while the line could still
/// be valid but has not ended, or an error at the first byte that cannot
/// belong to it (a bare LF, a NUL, a stray byte): so the answer does not
/// depend on how the line arrives. A size past `u64::MAX` reads as
/// `u64::MAX`, never wrapped, for the caller to refuse as too large.
fn chunk_size_line(line: &[u8]) -> Result<Option<(usize, u64)>, FrameError> {
    let mut size = 0u64;
    let mut i = 0;
    while let Some(digit) = line.get(i).and_then(|&b| (b as char).to_digit(16)) {
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .unwrap_or(u64::MAX);
        i += 1;
    }
    match line.get(i) {
        None => Ok(None),
        _ if i == 0 => Err(FrameError::BadChunk),
        // The usual line: digits and CRLF.
        Some(b'\r') => match line.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((i + 2, size))),
            Some(_) => Err(FrameError::BadChunk),
        },
        Some(_) => Ok(chunk_ext_end(line, i)?.map(|end| (end, size))),
    }
}

/// Checks the chunk extensions of a chunk-size line from `start` (just
/// after the size) up to its CRLF; returns the line's length, or `None` if
/// it has not ended yet. Whitespace (BWS) may come only around ";" and "=".
fn chunk_ext_end(line: &[u8], start: usize) -> Result<Option<usize>, FrameError> {
    /// Where in `*( BWS ";" BWS name [ BWS "=" BWS value ] ) CRLF` we are.
    #[derive(Clone, Copy)]
    enum At {
        /// After the size or a whole extension: ";", BWS or CR.
        End,
        /// After whitespace there: only more of it or ";".
        EndSpace,
        /// After ";": BWS, then the name's first byte.
        Semi,
        /// In a name.
        Name,
        /// After whitespace following a name: more, "=" or ";".
        NameSpace,
        /// After "=": BWS, then a token or a quoted string.
        Equals,
        /// In a token value.
        Token,
        /// In a quoted string, and just after a backslash in it.
        Quoted,
        Escaped,
        /// After CR: LF ends the line.
        Cr,
    }
    let mut at = At::End;
    for (i, &b) in line.iter().enumerate().skip(start) {
        let ws = b == b' ' || b == b'\t';
        at = match (at, b) {
            (At::Cr, b'\n') => return Ok(Some(i + 1)),
            (At::End | At::Name | At::Token, b'\r') => At::Cr,
            (At::End | At::EndSpace | At::Name | At::NameSpace | At::Token, b';') => At::Semi,
            (At::Name | At::NameSpace, b'=') => At::Equals,
            (At::End | At::EndSpace | At::Token, _) if ws => At::EndSpace,
            (At::Name | At::NameSpace, _) if ws => At::NameSpace,
            (At::Semi, _) if ws => At::Semi,
            (At::Equals, _) if ws => At::Equals,
            (At::Semi | At::Name, _) if is_tchar(b) => At::Name,
            (At::Equals | At::Token, _) if is_tchar(b) => At::Token,
            (At::Equals, b'"') => At::Quoted,
            (At::Quoted, b'"') => At::End,
            (At::Quoted, b'\\') => At::Escaped,
            // qdtext, and what a quoted-pair may escape: HTAB, SP, VCHAR,
            // obs-text.
            (At::Quoted | At::Escaped, _) if is_field_vchar_or_ws(b) => At::Quoted,
            _ => return Err(FrameError::BadChunk),
        };
    }
    Ok(None)
}

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// HTAB, SP, VCHAR or obs-text: what a field value (and a quoted string)
/// may hold; not CR, LF, NUL or other controls.
fn is_field_vchar_or_ws(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// Skips the trailer section after the last chunk (field lines, then an
/// empty line), checking each line ends in CRLF and is `field-name ":"
/// field-value`. Returns where it ends, or `None` if it is incomplete.
fn trailer_end(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = &buf[pos..pos + nl];
        let Some((b'\r', field)) = line.split_last() else {
            return Err(FrameError::BadChunk);
        };
        pos += nl + 1;
        if field.is_empty() {
            return Ok(Some(pos));
        }
        if !valid_field_line(field) {
            return Err(FrameError::BadChunk);
        }
    }
}

/// `field-name ":" field-value` (RFC 9112 §5): a token, a colon right
/// after it (no whitespace, §5.1), and only field-value bytes (no obs-fold:
/// a line cannot start with whitespace, §5.2).
fn valid_field_line(line: &[u8]) -> bool {
    let name_len = line.iter().take_while(|&&b| is_tchar(b)).count();
    name_len > 0
        && line.get(name_len) == Some(&b':')
        && line[name_len + 1..]
            .iter()
            .all(|&b| is_field_vchar_or_ws(b))
}

/// httparse rejects a version at the first byte that is not `HTTP/1.x`.
/// Whether the line names another version (505) or is garbage (400) can
/// depend on bytes still to come, so while the line is incomplete and
/// could still name one, wait for more: the answer must not depend on how
/// the request was split into reads (`Ok`: wait for more).
fn version_error(window: &[u8], limits: &Limits) -> Result<(), FrameError> {
    match names_a_version(window) {
        Some(true) => Err(FrameError::UnsupportedVersion),
        Some(false) => Err(FrameError::Malformed),
        None if window.len() < limits.max_head => Ok(()),
        None => Err(FrameError::HeadTooLarge),
    }
}

/// Whether the request line is `METHOD SP TARGET SP HTTP/d.d` (a version
/// we do not speak, rather than garbage); `None` while the line has not
/// ended and its bytes so far could still make one.
fn names_a_version(buf: &[u8]) -> Option<bool> {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let complete = line_end.is_some();
    // Every part but the last ended with a space: it is final.
    let parts: Vec<&[u8]> = line.splitn(4, |&b| b == b' ').collect();
    let (last, done) = parts.split_last().expect("splitn yields a part");
    if parts.len() > 3 || done.iter().any(|p| p.is_empty()) {
        return Some(false);
    }
    if parts.len() < 3 {
        return if complete { Some(false) } else { None };
    }
    let shaped = last.len() <= 8
        && last.iter().enumerate().all(|(i, &b)| match i {
            0..=4 => b == b"HTTP/"[i],
            6 => b == b'.',
            _ => b.is_ascii_digit(),
        });
    match (shaped, complete) {
        (false, _) => Some(false),
        (true, true) => Some(last.len() == 8),
        (true, false) => None,
    }
}

/// `value` without surrounding spaces and tabs.
fn trim(value: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Heads of all kinds, valid and not, for [`plain_head`] to agree on.
    const SEEDS: &[&[u8]] = &[
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
        b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
        b"PUT /x HTTP/1.1\r\nhost:\t[::1]:80 \t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"DELETE /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a%41b\r\nX-Empty:\r\nX-Spaces:    \r\ncontent-length: 1, 1\r\n\r\n",
        b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a:1/b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"get /\xc3\xa9 HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\nExpect: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    ];

    /// Where [`plain_head`] answers, [`httparse_head`] answers the same.
    fn check(input: &[u8]) {
        let limits = Limits {
            max_head: 300,
            max_body: 100,
        };
        let window = &input[..input.len().min(limits.max_head)];
        if let Some(plain) = plain_head(window) {
            assert_eq!(
                httparse_head(window, &limits),
                Ok(Some(plain)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn the_one_pass_head_agrees_with_httparse_on_every_prefix() {
        for seed in SEEDS {
            for len in 0..=seed.len() {
                check(&seed[..len]);
            }
        }
    }

    #[test]
    fn the_one_pass_head_agrees_with_httparse_on_mutated_heads() {
        const BYTES: &[u8] = b" \t\r\n:/,*%[]aAzZ09-\x7f\x80\xff\x00";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..200_000 {
            let mut input = SEEDS[random(SEEDS.len())].to_vec();
            for _ in 0..1 + random(3) {
                let at = random(input.len());
                let byte = BYTES[random(BYTES.len())];
                match random(3) {
                    0 => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ => drop(input.remove(at)),
                }
            }
            check(&input);
        }
    }

    #[test]
    fn eight_bytes_at_a_time_finds_the_first_stop_byte() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 20) as usize;
            // Mostly in range, sometimes not: each byte from a few bits.
            let bytes: Vec<u8> = (0..len)
                .map(|i| match (state >> (i * 3)) & 7 {
                    0 => {
                        [0x00, 0x09, 0x20, 0x3a, 0x7e, 0x7f, 0x80, 0xff][(state >> 60) as usize % 8]
                    }
                    k => b"a!~:/ 0"[k as usize - 1],
                })
                .collect();
            let colon = |x: u64| outside(b'!', b'~')(x) | equal(b':')(x);
            let is_colon_stop = |b: u8| b == b':' || !is_vchar(b);
            assert_eq!(
                first_stop(&bytes, colon, is_colon_stop),
                bytes.iter().position(|&b| is_colon_stop(b)),
                "{bytes:?}"
            );
            let is_value_stop = |b: u8| !is_visible_or_space(b);
            assert_eq!(
                first_stop(&bytes, outside(b' ', b'~'), is_value_stop),
                bytes.iter().position(|&b| is_value_stop(b)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn the_one_pass_head_takes_the_usual_requests() {
        let many_headers = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: y\r\n".repeat(63));
        for head in [
            &b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"[..],
            b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nUser-Agent: x/1.0\r\n\r\n",
            b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            many_headers.as_bytes(),
        ] {
            let plain = plain_head(head).expect("taken in one pass");
            assert_eq!(plain.len, head.len());
        }
        let too_many = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: y\r\n".repeat(64));
        assert_eq!(plain_head(too_many.as_bytes()), None);
    }
}

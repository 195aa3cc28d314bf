//! What the server answers, as bytes: the two benchmark endpoints and the
//! error responses. Pure (request in, bytes appended to `out`), so the
//! netloop server and its tokio peer answer byte for byte the same.
//!
//! - `GET /plaintext`: `Hello, World!` as `text/plain` (for HTTP/1.1
//!   keep-alive, [`respond_prebuilt`] copies the whole answer, built once
//!   per `Date`, in one piece: [`Prebuilt`]);
//! - `GET /json`: `{"message":"Hello, World!"}` as `application/json`,
//!   serialised for each request;
//! - `HEAD` on either: the same headers, no body;
//! - other known methods on them: 405 with `Allow: GET, HEAD`; unknown
//!   methods: 501; other paths: 404;
//! - `100 Continue` for a client that asked for it, before its body.
//!
//! Every response carries `Server`, `Date`, `Content-Length`, and
//! `Connection` when it differs from the version's default.

use std::io::Write;

use crate::date::HttpDate;
use crate::framing::Request;

const SERVER: &[u8] = b"Server: netloop\r\n";
const MESSAGE: &str = "Hello, World!";

/// Methods HTTP defines; anything else gets 501.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// How the connection continues after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1 default: no header needed.
    KeepAlive11,
    /// HTTP/1.0 with `Connection: keep-alive`: say so.
    KeepAlive10,
    /// `Connection: close`, then the server closes.
    Close,
}

impl Persist {
    /// What a request asked for.
    pub fn of(req: &Request<'_>) -> Persist {
        match (req.keep_alive, req.minor_version) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive10,
            (true, _) => Persist::KeepAlive11,
        }
    }

    /// The end of the head after the `Date` value: the `Connection`
    /// header when needed, and the blank line.
    fn tail(self) -> &'static [u8] {
        match self {
            Persist::KeepAlive11 => b"\r\n\r\n",
            Persist::KeepAlive10 => b"\r\nConnection: keep-alive\r\n\r\n",
            Persist::Close => b"\r\nConnection: close\r\n\r\n",
        }
    }
}

/// Appends the response to `req`. Returns the status code.
pub fn respond(out: &mut Vec<u8>, req: &Request<'_>, date: &HttpDate) -> u16 {
    let persist = Persist::of(req);
    let route = match route(req) {
        Ok(route) => route,
        Err(status) => return error(out, status, date, persist),
    };
    if is_plaintext_get(req, route, persist) {
        // The benchmark's request: three copies, two of them constants.
        out.reserve(PLAINTEXT_BEFORE_DATE.len() + 29 + PLAINTEXT_AFTER_DATE.len());
        out.extend_from_slice(PLAINTEXT_BEFORE_DATE);
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(PLAINTEXT_AFTER_DATE);
        return 200;
    }
    let mut json = [0u8; 64];
    let (content_type, body): (&[u8], &[u8]) = match route {
        Route::Plaintext => (b"text/plain", MESSAGE.as_bytes()),
        Route::Json => {
            let len = json_message(&mut json, MESSAGE);
            (b"application/json", &json[..len])
        }
    };
    head(out, 200, date, persist, content_type, body.len());
    if req.method != "HEAD" {
        out.extend_from_slice(body);
    }
    200
}

/// Whether `req`, going to `route` with `persist`, is the benchmark's
/// request: an HTTP/1.1 keep-alive `GET /plaintext`.
fn is_plaintext_get(req: &Request<'_>, route: Route, persist: Persist) -> bool {
    route == Route::Plaintext && persist == Persist::KeepAlive11 && req.method == "GET"
}

/// The `Date` of the current second and the answer to the benchmark's
/// request built on it, whole (status line, headers, body), so that
/// answer is one copy: [`respond_prebuilt`]. Built once a second, when the
/// date changes.
#[derive(Clone, Copy, Debug)]
pub struct Prebuilt {
    date: HttpDate,
    plaintext: [u8; PLAINTEXT_LEN],
}

/// The length of the keep-alive `GET /plaintext` answer.
const PLAINTEXT_LEN: usize = PLAINTEXT_BEFORE_DATE.len() + 29 + PLAINTEXT_AFTER_DATE.len();

impl Prebuilt {
    /// The answers for `date`.
    pub fn new(date: HttpDate) -> Prebuilt {
        let mut plaintext = [0; PLAINTEXT_LEN];
        let (before, rest) = plaintext.split_at_mut(PLAINTEXT_BEFORE_DATE.len());
        let (date_field, after) = rest.split_at_mut(29);
        before.copy_from_slice(PLAINTEXT_BEFORE_DATE);
        date_field.copy_from_slice(date.as_bytes());
        after.copy_from_slice(PLAINTEXT_AFTER_DATE);
        Prebuilt { date, plaintext }
    }

    /// The date the answers carry.
    pub fn date(&self) -> &HttpDate {
        &self.date
    }
}

/// Appends the response to `req`, as [`respond`] does with
/// `prebuilt.date()`, the benchmark's request with one copy. Returns the
/// status code.
pub fn respond_prebuilt(out: &mut Vec<u8>, req: &Request<'_>, prebuilt: &Prebuilt) -> u16 {
    if req.path == "/plaintext" && is_plaintext_get(req, Route::Plaintext, Persist::of(req)) {
        out.extend_from_slice(&prebuilt.plaintext);
        return 200;
    }
    respond(out, req, &prebuilt.date)
}

/// Appends a 200 response to `req` with this body (no body for `HEAD`),
/// for endpoints outside this module (`/metrics`).
pub fn ok_with(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    date: &HttpDate,
    content_type: &[u8],
    body: &[u8],
) {
    head(out, 200, date, Persist::of(req), content_type, body.len());
    if req.method != "HEAD" {
        out.extend_from_slice(body);
    }
}

/// The status [`respond`] will answer `req` with. It depends on the head
/// only, so a client waiting for `100 Continue` can be refused before it
/// sends its body.
pub fn status_of(req: &Request<'_>) -> u16 {
    route(req).map_or_else(|status| status, |_| 200)
}

/// Appends the interim `100 Continue` (the client may send its body).
pub fn continue_100(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Where a request goes, or the error status it gets.
fn route(req: &Request<'_>) -> Result<Route, u16> {
    // GET first: the common case skips the list.
    if req.method != "GET" && !KNOWN_METHODS.contains(&req.method) {
        return Err(501);
    }
    let route = match req.path {
        "/plaintext" => Route::Plaintext,
        "/json" => Route::Json,
        _ => return Err(404),
    };
    if req.method != "GET" && req.method != "HEAD" {
        return Err(405);
    }
    Ok(route)
}

/// Appends an error response with a short plain-text body. Returns `status`.
pub fn error(out: &mut Vec<u8>, status: u16, date: &HttpDate, persist: Persist) -> u16 {
    let reason = reason(status);
    head(out, status, date, persist, b"text/plain", reason.len() + 1);
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
    status
}

/// An HTTP/1.1 keep-alive `GET /plaintext` answer up to its `Date` value,
/// and after it (what `head` and the body would write, spelled out).
const PLAINTEXT_BEFORE_DATE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: netloop\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: ";
const PLAINTEXT_AFTER_DATE: &[u8] = b"\r\n\r\nHello, World!";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Plaintext,
    Json,
}

/// Status line and headers, up to and including the blank line. The
/// common case, a 200, starts from one constant (the per-request work is a
/// few copies: no formatting but the length's digits).
fn head(
    out: &mut Vec<u8>,
    status: u16,
    date: &HttpDate,
    persist: Persist,
    content_type: &[u8],
    body_len: usize,
) {
    let mut digits = itoa::Buffer::new();
    let length = digits.format(body_len).as_bytes();
    let tail = persist.tail();
    out.reserve(160 + content_type.len() + length.len() + tail.len());
    if status == 200 {
        out.extend_from_slice(OK_START);
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(SERVER);
        if status == 405 {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        out.extend_from_slice(b"Content-Type: ");
    }
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(length);
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(tail);
}

/// A 200's status line, `Server` header and `Content-Type` name.
const OK_START: &[u8] = b"HTTP/1.1 200 OK\r\nServer: netloop\r\nContent-Type: ";

/// The reason phrase of the statuses this server uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Serialises `{"message":<msg>}` into `buf`; returns its length (at most
/// `buf.len()`: what does not fit is cut).
pub fn json_message(buf: &mut [u8], msg: &str) -> usize {
    let total = buf.len();
    let mut w = &mut buf[..];
    let _ = w.write_all(b"{\"message\":");
    json_string(&mut w, msg);
    let _ = w.write_all(b"}");
    total - w.len()
}

/// Writes `s` as a JSON string literal, escaped: runs of plain bytes are
/// copied whole, `"`, `\\` and control characters escaped.
fn json_string(w: &mut impl Write, s: &str) {
    let _ = w.write_all(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'"' && b != b'\\' && b >= 0x20 {
            continue;
        }
        let _ = w.write_all(&bytes[start..i]);
        let _ = match b {
            b'"' => w.write_all(b"\\\""),
            b'\\' => w.write_all(b"\\\\"),
            _ => write!(w, "\\u{b:04x}"),
        };
        start = i + 1;
    }
    let _ = w.write_all(&bytes[start..]);
    let _ = w.write_all(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{self, Limits, Parse};

    /// The prebuilt answer is what [`respond`] writes for its date, with a
    /// `Content-Length` that is its body's length; another second, another
    /// `Date`; any other request is answered as [`respond`] answers it.
    #[test]
    fn the_prebuilt_answer_is_respond_s_for_its_date() {
        let request = |bytes: &'static [u8]| match framing::parse(bytes, &Limits::default()) {
            Ok(Parse::Complete { request, .. }) => request,
            other => panic!("{other:?}"),
        };
        let plaintext = request(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        let (second, next_second) = (
            HttpDate::from_unix(784_111_777),
            HttpDate::from_unix(784_111_778),
        );
        let mut answers = Vec::new();
        for date in [second, next_second] {
            let (mut prebuilt, mut general) = (Vec::new(), Vec::new());
            respond_prebuilt(&mut prebuilt, &plaintext, &Prebuilt::new(date));
            respond(&mut general, &plaintext, &date);
            assert_eq!(
                String::from_utf8_lossy(&prebuilt),
                String::from_utf8_lossy(&general)
            );
            let text = String::from_utf8(prebuilt).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            assert!(head.contains(std::str::from_utf8(date.as_bytes()).unwrap()));
            answers.push(text);
        }
        assert_ne!(answers[0], answers[1]);
        for other in [
            &b"GET /plaintext HTTP/1.0\r\n\r\n"[..],
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /plaintext/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let other = request(other);
            let (mut prebuilt, mut general) = (Vec::new(), Vec::new());
            respond_prebuilt(&mut prebuilt, &other, &Prebuilt::new(second));
            respond(&mut general, &other, &second);
            assert_eq!(prebuilt, general);
        }
    }

    /// The spelled-out plaintext answer is byte for byte what the general
    /// path writes.
    #[test]
    fn the_plaintext_constants_match_the_general_head() {
        let date = HttpDate::from_unix(784_111_777);
        let mut general = Vec::new();
        head(
            &mut general,
            200,
            &date,
            Persist::KeepAlive11,
            b"text/plain",
            MESSAGE.len(),
        );
        general.extend_from_slice(MESSAGE.as_bytes());
        let mut spelled = PLAINTEXT_BEFORE_DATE.to_vec();
        spelled.extend_from_slice(date.as_bytes());
        spelled.extend_from_slice(PLAINTEXT_AFTER_DATE);
        assert_eq!(String::from_utf8(spelled), String::from_utf8(general));
    }
}

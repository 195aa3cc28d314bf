//! The HTTP example against the MUST-level request rules of RFC 9112
//! (HTTP/1.1), one table of cases: message framing (Content-Length,
//! Transfer-Encoding, chunked coding with its extensions and trailer
//! section), `Host`, request-target forms, whitespace and line endings,
//! persistence. Each case names its clause; `§6.3 ¶n` is the n-th numbered
//! rule of §6.3 (Message Body Length). A few cases pin down what this
//! server chose where the RFC leaves a choice (reject or repair, MAY,
//! SHOULD); they say so.
//!
//! Every case runs twice: through the framing (`framing::parse`, the
//! input whole and arriving one byte at a time, each request's status
//! taken from `respond::status_of`), and against the running server over
//! a real socket (the statuses answered, `Connection: close` and a clean
//! close when the connection must end, or a further request still served
//! when it must not).

mod common;
mod example_server;
mod http_support;

use http_support::Client;
use netloop_http::framing::{self, Limits, Parse};
use netloop_http::respond;
use netloop_http::server::Config;

/// A request answered 200 on an open connection.
const OK: &str = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// What the server must do with a case's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Answer these statuses, in order, and keep the connection open.
    Serve(&'static [u16]),
    /// Answer these statuses, the last with `Connection: close`, then close.
    Close(&'static [u16]),
    /// Refuse the request with an error status (which one the RFC leaves
    /// open), then close.
    Reject,
}

struct Case {
    /// The clause, and the rule in a few words.
    clause: &'static str,
    input: Vec<u8>,
    expect: Expect,
}

fn case(clause: &'static str, input: impl AsRef<[u8]>, expect: Expect) -> Case {
    Case {
        clause,
        input: input.as_ref().to_vec(),
        expect,
    }
}

/// A POST to /plaintext (405, connection kept) with extra header lines and
/// a body, then [`OK`]: a 405 and a 200 show the body was framed exactly.
fn post(headers: &str, body: &str) -> String {
    format!("POST /plaintext HTTP/1.1\r\nHost: t\r\n{headers}\r\n{body}{OK}")
}

/// A chunked POST with `body` on the wire, then [`OK`].
fn chunked(body: &str) -> String {
    post("Transfer-Encoding: chunked\r\n", body)
}

/// A GET of /plaintext with these header lines (no Host unless given).
fn get_with(headers: &str) -> String {
    format!("GET /plaintext HTTP/1.1\r\n{headers}\r\n")
}

/// A GET of `target` with `Host: t`.
fn get_target(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n")
}

fn cases() -> Vec<Case> {
    use Expect::{Close, Reject, Serve};
    let kept: &[u16] = &[405, 200];
    vec![
        // --- Message body length (§6.3) --------------------------------
        case(
            "§6.3 ¶7: a request with neither length has no body",
            post("", ""),
            Serve(kept),
        ),
        case(
            "§6.3 ¶6: Content-Length is the body's length",
            post("Content-Length: 5\r\n", "hello"),
            Serve(kept),
        ),
        case(
            "§6.3 ¶6: a request inside a Content-Length body is body, not a request",
            post("Content-Length: 36\r\n", OK),
            Serve(&[405, 200]),
        ),
        case(
            "§6.3 ¶3: Content-Length and Transfer-Encoding both: 400 or close",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶3: Transfer-Encoding then Content-Length: 400 or close",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                "0\r\n\r\n",
            ),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶4: Transfer-Encoding not ending in chunked: 400",
            post("Transfer-Encoding: gzip\r\n", ""),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶4: chunked not the final coding: 400",
            post("Transfer-Encoding: chunked, gzip\r\n", ""),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶4: the final coding over all Transfer-Encoding lines is not chunked: 400",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                "",
            ),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶4: an empty Transfer-Encoding names no chunked: 400",
            post("Transfer-Encoding: \r\n", ""),
            Close(&[400]),
        ),
        case(
            "§6.1: chunked applied twice is not allowed (this server: 400)",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§6.1 (SHOULD): an unknown coding before chunked: 501, then close",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            Close(&[501]),
        ),
        case(
            "§7: transfer-coding names are case-insensitive",
            post("Transfer-Encoding: Chunked\r\n", "0\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: close",
            "POST /plaintext HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: Content-Length with a sign: 400",
            post("Content-Length: +5\r\n", "hello"),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: negative Content-Length: 400",
            post("Content-Length: -5\r\n", ""),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: Content-Length in hex: 400",
            post("Content-Length: 0x5\r\n", "hello"),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: Content-Length with trailing garbage: 400",
            post("Content-Length: 5x\r\n", "hello"),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: empty Content-Length: 400",
            post("Content-Length: \r\n", ""),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: Content-Length past 2^64: 400",
            post("Content-Length: 18446744073709551621\r\n", "hello"),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: differing Content-Length lines: 400",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            Close(&[400]),
        ),
        case(
            "§6.3 ¶5: a Content-Length list of differing values: 400",
            post("Content-Length: 5, 6\r\n", "hello!"),
            Close(&[400]),
        ),
        case(
            "RFC 9110 §8.6 (MAY): repeated identical Content-Length lines are one length",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            Serve(kept),
        ),
        // --- Chunked transfer coding (§7.1) ----------------------------
        case(
            "§7.1: chunks, last chunk, empty trailer section",
            chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1: a request inside chunk data is data",
            chunked(&format!("24\r\n{OK}\r\n0\r\n\r\n")),
            Serve(kept),
        ),
        case(
            "§7.1: chunk-size is hex, either case",
            chunked("A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1: chunk-size is 1*HEXDIG: leading zeros are no overflow",
            chunked("00000000000000000005\r\nhello\r\n0000\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1: large sizes must not overflow (17 hex digits that wrap to 5)",
            chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"),
            Reject,
        ),
        case(
            "§7.1: large sizes must not overflow (2^64 - 1)",
            chunked("ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
            Reject,
        ),
        case(
            "§7.1: chunk-size needs a digit",
            chunked(";a=b\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: an empty size line is no last chunk",
            chunked("\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: chunk-size is hex digits only (no 0x)",
            chunked("0x5\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: no whitespace before chunk-size",
            chunked(" 5\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: no whitespace after chunk-size without an extension",
            chunked("5 \r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: chunk data ends with CRLF",
            chunked("5\r\nhelloXY0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1: chunk data shorter than its size",
            chunked("5\r\nhel\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1 + §2.2: bare LF ending the chunk-size line: 400",
            chunked("5\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1 + §2.2: bare LF after chunk data: 400",
            chunked("5\r\nhello\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1 + §2.2: bare LF ending the last chunk: 400",
            chunked("5\r\nhello\r\n0\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1 + §2.2: bare LF ending the trailer section: 400",
            chunked("0\r\n\n"),
            Close(&[400]),
        ),
        case(
            "§7.1 + §2.2: bare CR in the chunk-size line: 400",
            chunked("5\rhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        // --- Chunk extensions (§7.1.1) ---------------------------------
        case(
            "§7.1.1: unrecognized extensions are ignored (name only)",
            chunked("5;foo\r\nhello\r\n0\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1.1: unrecognized extensions are ignored (token value)",
            chunked("5;foo=bar;baz=1\r\nhello\r\n0\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1.1: unrecognized extensions are ignored (quoted-string value with quoted-pairs)",
            chunked("5;foo=\"b a;r=\\\"\\\\\"\r\nhello\r\n0;last=\"\"\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1.1: BWS around \";\" and \"=\"",
            chunked("5 ;\tfoo = bar ; baz\r\nhello\r\n0 ; x=\"y\"\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1.1: bare LF inside a chunk extension: 400",
            chunked("3;foo\nabc\r\nabc\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: bare LF ending an extension value: 400",
            chunked("5;foo=bar\n\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: NUL in an extension name: 400",
            chunked("5;fo\0o=bar\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: NUL in an extension value: 400",
            chunked("5;foo=b\0ar\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: NUL in a quoted extension value: 400",
            chunked("5;foo=\"b\0ar\"\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: a quoted-pair escapes no control byte: 400",
            chunked("5;foo=\"\\\u{1}\"\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: chunk-ext-name is a token (not empty): 400",
            chunked("5;=bar\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: chunk-ext-name is a token (no @): 400",
            chunked("5;fo@o\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: an empty extension: 400",
            chunked("5;;foo\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: \"=\" needs a value: 400",
            chunked("5;foo=\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: extensions are separated by \";\": 400",
            chunked("5;foo bar\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: nothing after a quoted value but \";\": 400",
            chunked("5;foo=\"a\"b\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.1: a quoted value ends before CRLF: 400",
            chunked("5;foo=\"a\r\nhello\r\n0\r\n\r\n"),
            Close(&[400]),
        ),
        // --- Trailer section (§7.1.2) -----------------------------------
        case(
            "§7.1.2: trailer fields after the last chunk",
            chunked("0\r\nX-Sum: 1\r\nX-Other: two words\r\n\r\n"),
            Serve(kept),
        ),
        case(
            "§7.1.2 + §2.2: bare LF ending a trailer field: 400",
            chunked("0\r\nX-Sum: 1\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.2 + §5.1: whitespace before a trailer field's colon: 400",
            chunked("0\r\nX-Sum : 1\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.2 + §5.2: obs-fold in the trailer section: 400",
            chunked("0\r\nX-Sum: 1\r\n 2\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.2 + §5: a trailer line without a colon: 400",
            chunked("0\r\nX-Sum\r\n\r\n"),
            Close(&[400]),
        ),
        case(
            "§7.1.2 + RFC 9110 §5.5: NUL in a trailer value: 400",
            chunked("0\r\nX-Sum: a\0b\r\n\r\n"),
            Close(&[400]),
        ),
        // --- Host (§3.2) ------------------------------------------------
        case(
            "§3.2: HTTP/1.1 without Host: 400",
            get_with(""),
            Close(&[400]),
        ),
        case(
            "§3.2: two Host lines: 400",
            get_with("Host: t\r\nHost: u\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: two identical Host lines: 400",
            get_with("Host: t\r\nHost: t\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: two Host lines in any request, HTTP/1.0 too: 400",
            "GET /plaintext HTTP/1.0\r\nHost: t\r\nHost: u\r\n\r\n",
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (space): 400",
            get_with("Host: a b\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (path): 400",
            get_with("Host: t/plaintext\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (userinfo): 400",
            get_with("Host: user@t\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (port not digits): 400",
            get_with("Host: t:80x\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (two ports): 400",
            get_with("Host: t:80:81\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (port without host): 400",
            get_with("Host: :80\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (unclosed IP literal): 400",
            get_with("Host: [::1\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host (bad percent-encoding): 400",
            get_with("Host: t%zz\r\n"),
            Close(&[400]),
        ),
        case(
            "§3.2: invalid Host in HTTP/1.0: 400",
            "GET /plaintext HTTP/1.0\r\nHost: a,b c\r\n\r\n",
            Close(&[400]),
        ),
        case(
            "§3.2: Host may be empty (no authority)",
            get_with("Host:\r\n"),
            Serve(&[200]),
        ),
        case(
            "§3.2: Host with a port",
            get_with("Host: example.com:8080\r\n"),
            Serve(&[200]),
        ),
        case(
            "§3.2: Host as an IPv4 address",
            get_with("Host: 127.0.0.1\r\n"),
            Serve(&[200]),
        ),
        case(
            "§3.2: Host as an IPv6 literal with a port",
            get_with("Host: [::1]:80\r\n"),
            Serve(&[200]),
        ),
        case(
            "§3.2: Host with an empty port, percent-encoding",
            get_with("Host: ex%41mple.com:\r\n"),
            Serve(&[200]),
        ),
        // --- Request target (§3.2.1 - §3.2.4) -----------------------------
        case(
            "§3.2.1: origin-form",
            get_target("/plaintext"),
            Serve(&[200]),
        ),
        case(
            "§3.2.2: absolute-form is accepted and routed by its path",
            get_target("http://t/plaintext"),
            Serve(&[200]),
        ),
        case(
            "§3.2.2: absolute-form, https with a port",
            get_target("https://t:8443/json"),
            Serve(&[200]),
        ),
        case(
            "§3.2.2: absolute-form, scheme and host case-insensitive",
            get_target("HTTP://T/plaintext"),
            Serve(&[200]),
        ),
        case(
            "§3.2.2: absolute-form: the Host header's value is ignored",
            "GET http://t/plaintext HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n",
            Serve(&[200]),
        ),
        case(
            "§3.2.2: absolute-form routes by its path (not found there)",
            get_target("http://plaintext/nowhere"),
            Serve(&[404]),
        ),
        case(
            "§3.2.2 + RFC 9110 §4.2.1: http URI with an empty host: 400",
            get_target("http:///plaintext"),
            Close(&[400]),
        ),
        case(
            "§3.2.2 + RFC 9110 §4.2.4 (SHOULD): userinfo in the target: 400",
            get_target("http://u@t/plaintext"),
            Close(&[400]),
        ),
        case(
            "§3.2.2: absolute-form with a bad port: 400",
            get_target("http://t:8x/plaintext"),
            Close(&[400]),
        ),
        case(
            "§3 (SHOULD 400): a target of no form is an invalid request-line",
            get_target("plaintext"),
            Close(&[400]),
        ),
        case(
            "§3.2.4 (this server: 400): asterisk-form is only for OPTIONS",
            get_target("*"),
            Close(&[400]),
        ),
        case(
            "§3.2.3 (this server: 400): CONNECT takes authority-form only",
            "CONNECT /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(&[400]),
        ),
        // --- Whitespace and line endings (§2.2, §5.1, §5.2, §3) --------
        case(
            "§5.1: whitespace between field name and colon: 400",
            get_with("Host : t\r\n"),
            Close(&[400]),
        ),
        case(
            "§5.1: a tab between field name and colon: 400",
            get_with("Host: t\r\nX-A\t: 1\r\n"),
            Close(&[400]),
        ),
        case(
            "§2.2: whitespace before the first header line: reject (or ignore the line: no Host, 400 too)",
            get_with(" Host: t\r\n"),
            Close(&[400]),
        ),
        case(
            "§5.2: obs-fold in a request: reject (this server) or replace with SP",
            get_with("Host: t\r\nX-A: 1\r\n 2\r\n"),
            Close(&[400]),
        ),
        case(
            "§2.2: bare CR in a field value: reject (this server) or replace with SP",
            get_with("Host: t\r\nX-A: a\rb\r\n"),
            Close(&[400]),
        ),
        case(
            "§2.2: bare CR in the request line",
            "GET /plaintext\r HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(&[400]),
        ),
        case(
            "RFC 9110 §5.5: NUL in a field value: 400",
            get_with("Host: t\r\nX-A: a\0b\r\n"),
            Close(&[400]),
        ),
        case(
            "§2.2 (MAY): a bare LF may end head lines",
            "GET /plaintext HTTP/1.1\nHost: t\n\n",
            Serve(&[200]),
        ),
        case(
            "§2.3: HTTP-name is case-sensitive",
            "GET /plaintext http/1.1\r\nHost: t\r\n\r\n",
            Close(&[400]),
        ),
        // --- Persistence (§9.3, §9.6) --------------------------------------
        case(
            "§9.3.2: pipelined requests answered in order",
            format!(
                "{OK}GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\nDELETE /json HTTP/1.1\r\nHost: t\r\n\r\n{OK}"
            ),
            Serve(&[200, 404, 405, 200]),
        ),
        case(
            "§9.6: after \"close\", no further request is processed",
            format!("GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n{OK}"),
            Close(&[200]),
        ),
        case(
            "§9.3: HTTP/1.0 without keep-alive closes after the response",
            format!("GET /plaintext HTTP/1.0\r\n\r\n{OK}"),
            Close(&[200]),
        ),
        case(
            "§9.3: HTTP/1.0 with keep-alive stays open",
            "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Serve(&[200]),
        ),
    ]
}

/// What the framing makes of `input` arriving `step` bytes at a time, as
/// a server loop uses it: the status of each request in order, and
/// whether the connection then ends (an error, or a request not kept
/// alive). Panics if a request is left incomplete.
fn frame(input: &[u8], step: usize) -> (Vec<u16>, bool) {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut statuses = Vec::new();
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match framing::parse(&buf, &limits) {
                Ok(Parse::Complete { request, len }) => {
                    statuses.push(respond::status_of(&request));
                    if !request.keep_alive {
                        return (statuses, true);
                    }
                    buf.drain(..len);
                }
                Ok(Parse::Partial | Parse::HeadOnly { .. }) => break,
                Err(e) => {
                    statuses.push(e.status());
                    return (statuses, true);
                }
            }
        }
    }
    assert!(
        buf.is_empty(),
        "{} bytes left incomplete: {:?}",
        buf.len(),
        String::from_utf8_lossy(&buf)
    );
    (statuses, false)
}

/// Whether `(statuses, closed)` is what `expect` asks for.
fn meets(expect: Expect, statuses: &[u16], closed: bool) -> bool {
    match expect {
        Expect::Serve(want) => statuses == want && !closed,
        Expect::Close(want) => statuses == want && closed,
        Expect::Reject => matches!(statuses, [s] if *s >= 400) && closed,
    }
}

#[test]
fn framing_follows_rfc_9112() {
    let mut failures = Vec::new();
    for c in cases() {
        for step in [c.input.len().max(1), 1] {
            let (statuses, closed) = frame(&c.input, step);
            if !meets(c.expect, &statuses, closed) {
                failures.push(format!(
                    "{}\n    input {:?} in reads of {step}\n    want {:?}, got {statuses:?} {}",
                    c.clause,
                    String::from_utf8_lossy(&c.input),
                    c.expect,
                    if closed { "then close" } else { "kept open" },
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn server_follows_rfc_9112() {
    let server = http_support::start(Config::default());
    let cases = cases();
    for c in &cases {
        let mut client = Client::connect(server.addr);
        client.send(&c.input);
        let (count, closes) = match c.expect {
            Expect::Serve(want) => (want.len(), false),
            Expect::Close(want) => (want.len(), true),
            Expect::Reject => (1, true),
        };
        let mut statuses = Vec::new();
        for i in 0..count {
            let r = client.response();
            let close_header = r.header("Connection") == Some("close");
            assert_eq!(
                close_header,
                closes && i + 1 == count,
                "{}: response {i} Connection header: {r:?}",
                c.clause
            );
            if r.status == 200 {
                assert!(
                    r.body_str().contains("Hello, World!"),
                    "{}: {r:?}",
                    c.clause
                );
            }
            statuses.push(r.status);
        }
        assert!(
            meets(c.expect, &statuses, closes),
            "{}: want {:?}, got {statuses:?}",
            c.clause,
            c.expect
        );
        if closes {
            client.expect_clean_close();
        } else {
            assert_eq!(
                client.get("/plaintext").status,
                200,
                "{}: the connection still serves",
                c.clause
            );
        }
    }
    let m = server.finish();
    assert_eq!(m.accepted, cases.len() as u64);
    assert_eq!(m.panics, 0);
}

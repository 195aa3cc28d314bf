//! The HTTP example answers bad input with its status and a clean close,
//! after answering the good requests before it: malformed request line →
//! 400, head over the limit → 431, unknown method → 501, method not allowed
//! → 405 (connection kept), unsupported version → 505, missing Host → 400,
//! bodies (Content-Length and chunked) read and skipped, or rejected
//! (too large → 413, ambiguous → 400, unknown coding before `chunked` →
//! 501; tests/http_rfc9112.rs has the RFC 9112 cases).

mod common;
mod example_server;
mod http_support;

use http_support::Client;
use netloop_http::server::{Config, HttpState};

const OK: &str = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// Sends `input` on a fresh connection and checks the statuses answered, in
/// order; with `closes`, the last one carries `Connection: close` and the
/// server then closes cleanly; without, the connection still serves.
fn check(
    server: &example_server::Running<HttpState>,
    case: &str,
    input: &[u8],
    statuses: &[u16],
    closes: bool,
) {
    let mut c = Client::connect(server.addr);
    c.send(input);
    for (i, &want) in statuses.iter().enumerate() {
        let r = c.response();
        assert_eq!(r.status, want, "{case}: response {i}: {r:?}");
        let last = i + 1 == statuses.len();
        let close_header = r.header("Connection") == Some("close");
        assert_eq!(
            close_header,
            closes && last,
            "{case}: response {i} Connection header: {r:?}"
        );
    }
    if closes {
        c.expect_clean_close();
    } else {
        assert_eq!(
            c.get("/plaintext").status,
            200,
            "{case}: connection still serves"
        );
    }
}

#[test]
fn each_bad_input_gets_its_status() {
    let server = http_support::start(Config::default());
    let big_header = format!(
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let many_headers = format!(
        "GET /plaintext HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-A: 1\r\n".repeat(100)
    );
    let cases: Vec<(&str, Vec<u8>, Vec<u16>, bool)> = vec![
        ("malformed request line", b"GARBAGE\r\n\r\n".to_vec(), vec![400], true),
        ("no spaces in request line", b"GET/plaintextHTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), vec![400], true),
        ("control byte in path", b"GET /pl\x01in HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), vec![400], true),
        ("bad header line", b"GET / HTTP/1.1\r\nHost t\r\n\r\n".to_vec(), vec![400], true),
        ("good then malformed", format!("{OK}{OK}BAD\x7f\r\n\r\n").into_bytes(), vec![200, 200, 400], true),
        ("head over 8 KiB", big_header.into_bytes(), vec![431], true),
        ("too many headers", many_headers.into_bytes(), vec![431], true),
        ("unknown method", b"BREW /plaintext HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), vec![501], false),
        ("method not allowed", b"DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), vec![405], false),
        ("HTTP/2.0", b"GET /plaintext HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), vec![505], true),
        ("missing Host", b"GET /plaintext HTTP/1.1\r\n\r\n".to_vec(), vec![400], true),
        (
            "Content-Length body read, next request framed",
            format!("POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world{OK}").into_bytes(),
            vec![405, 200],
            false,
        ),
        (
            "chunked body read, next request framed",
            format!("POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n{OK}").into_bytes(),
            vec![405, 200],
            false,
        ),
        (
            "malformed chunk",
            b"POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            vec![400],
            true,
        ),
        (
            "body over the limit",
            b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n".to_vec(),
            vec![413],
            true,
        ),
        (
            "chunk over the limit",
            b"POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n".to_vec(),
            vec![413],
            true,
        ),
        (
            "both lengths",
            b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            vec![400],
            true,
        ),
        (
            "conflicting Content-Length",
            b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            vec![400],
            true,
        ),
        (
            "non-numeric Content-Length",
            b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n".to_vec(),
            vec![400],
            true,
        ),
        (
            "unknown transfer coding before chunked",
            b"POST /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
            vec![501],
            true,
        ),
    ];
    for (case, input, statuses, closes) in &cases {
        check(&server, case, input, statuses, *closes);
    }
    let stats = http_support::stats(&server);
    let m = server.finish();
    assert_eq!(m.accepted, cases.len() as u64);
    assert_eq!(m.panics, 0);
    let closing = cases.iter().filter(|c| c.3).count() as u64;
    assert_eq!(
        stats.rejected, closing,
        "each closing case was one rejection"
    );
}

/// An oversized body is refused as soon as its length is known, before it
/// is sent (nothing is buffered), and the close still delivers the answer.
#[test]
fn oversized_body_is_refused_without_reading_it() {
    let server = http_support::start(Config::default());
    let mut c = Client::connect(server.addr);
    // Announce 100 MB, send 1 KiB of it: the answer comes at once.
    c.send(b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n");
    c.send(&[b'x'; 1024]);
    assert_eq!(c.response().status, 413);
    // The server lingers (discarding) until our FIN, then closes cleanly.
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    c.expect_clean_close();
    drop(c);
    let closes = server.log.closes();
    server.finish();
    assert!(
        closes
            .values()
            .flatten()
            .all(|r| *r == netloop::CloseReason::Lingered),
        "{closes:?}"
    );
}

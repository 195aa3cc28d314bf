//! `Expect: 100-continue` in the HTTP example: a client that waits before
//! sending its body gets `100 Continue` as soon as the head is in, once,
//! then the final response after the body; a request that would be refused
//! anyway (405, 404, 413) gets its final status at once and a clean close,
//! without the server reading a body; an unknown expectation gets 417; an
//! HTTP/1.0 client never gets `100 Continue`. And curl, told to wait 30 s
//! for it, is not kept waiting.

mod common;
mod example_server;
mod http_support;

use std::process::Command;
use std::time::{Duration, Instant};

use http_support::Client;
use netloop_http::server::Config;

const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";

#[test]
fn continue_comes_before_the_body_then_the_response_after_it() {
    let server = http_support::start(Config::default());
    let mut c = Client::connect(server.addr);
    // A GET with a body: the route answers it, so the body is wanted.
    c.send(
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    );
    assert_eq!(c.interim(), CONTINUE, "100 Continue before any body byte");
    // The body in two pieces: no second 100 for the same request.
    c.send(b"01234");
    c.send(b"56789");
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_str(), "Hello, World!");
    // The connection serves on, and the next request gets its own 100.
    assert_eq!(c.get("/json").status, 200);
    c.send(b"GET /json HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        c.interim(),
        CONTINUE,
        "100 for the second request (chunked)"
    );
    c.send(b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(c.response().status, 200);
    drop(c);
    let stats = http_support::stats(&server);
    assert_eq!(stats.responses, 3);
    server.finish();
}

/// Each input gets one final response with `Connection: close`, then a
/// clean close, and no `100 Continue` (a 1xx has no Content-Length: reading
/// it as the response fails).
#[test]
fn refused_unknown_and_http_1_0_expectations_get_a_final_answer_only() {
    let server = http_support::start(Config::default());
    let cases: [(&str, &[u8], u16); 5] = [
        (
            "method not allowed: refused before its body",
            b"POST /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            405,
        ),
        (
            "unknown path: refused before its body",
            b"PUT /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            404,
        ),
        (
            "body over the limit",
            b"GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n",
            413,
        ),
        (
            "unknown expectation",
            b"GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 5\r\n\r\n",
            417,
        ),
        (
            "HTTP/1.0: the expectation is ignored, the body read",
            b"GET /plaintext HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            200,
        ),
    ];
    for (case, input, status) in cases {
        let mut c = Client::connect(server.addr);
        c.send(input);
        let r = c.response();
        assert_eq!(r.status, status, "{case}: {r:?}");
        assert_eq!(r.header("Connection"), Some("close"), "{case}");
        c.expect_clean_close();
    }
    server.finish();
}

/// curl, told to wait up to 30 s for `100 Continue` before sending its
/// body, gets the answer long before that: 200 for a GET with a body, and
/// an immediate 405 for a POST (whose body it then never sends).
#[test]
fn curl_is_not_kept_waiting() {
    if !common::tools::have("curl") {
        common::tools::skip_or_fail("curl is not installed (apt-get install curl)");
        return;
    }
    let server = http_support::start(Config::default());
    let url = format!("http://{}/plaintext", server.addr);
    for (method, want) in [("GET", "200"), ("POST", "405")] {
        let started = Instant::now();
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "60",
            ])
            .args(["-X", method, "--data-binary", "hello"])
            .args(["-H", "Expect: 100-continue", "--expect100-timeout", "30"])
            .arg(&url)
            .output()
            .expect("run curl");
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{method}: curl failed: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{method}");
        // Without an early answer curl sends the body only after its 30 s.
        assert!(
            took < Duration::from_secs(15),
            "{method}: curl waited {took:?} for 100 Continue"
        );
    }
    server.finish();
}

//! The HTTP example keeps connections alive: sequential requests share one
//! connection (HTTP/1.1 by default, HTTP/1.0 with `Connection: keep-alive`,
//! and curl reuses it), `Connection: close` and plain HTTP/1.0 get their
//! answer and then a clean close.

mod common;
mod example_server;
mod http_support;

use http_support::{Client, Response};
use netloop_http::server::Config;

fn assert_plaintext(r: &Response) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_str(), "Hello, World!");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Server"), Some("netloop"));
    let date = r.header("Date").expect("Date header");
    assert!(date.len() == 29 && date.ends_with(" GMT"), "Date: {date}");
}

#[test]
fn sequential_requests_share_one_connection() {
    let server = http_support::start(Config::default());
    let mut c = Client::connect(server.addr);
    for _ in 0..5 {
        assert_plaintext(&c.get("/plaintext"));
        let json = c.get("/json");
        assert_eq!(json.status, 200);
        assert_eq!(json.body_str(), r#"{"message":"Hello, World!"}"#);
        assert_eq!(json.header("Content-Type"), Some("application/json"));
        assert_eq!(
            json.header("Connection"),
            None,
            "HTTP/1.1 keeps alive silently"
        );
    }
    c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = c.head_response();
    assert_eq!(
        (head.status, head.header("Content-Length")),
        (200, Some("13"))
    );
    assert!(head.body.is_empty());
    assert_eq!(
        c.get("/nowhere").status,
        404,
        "a 404 keeps the connection too"
    );
    assert_plaintext(&c.get("/plaintext"));
    drop(c);
    let m = server.finish();
    assert_eq!(m.accepted, 1, "one connection for all requests");
}

#[test]
fn connection_close_is_honoured() {
    let server = http_support::start(Config::default());
    let mut c = Client::connect(server.addr);
    assert_plaintext(&c.get("/plaintext"));
    c.send(b"GET /plaintext HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_plaintext(&r);
    assert_eq!(r.header("Connection"), Some("close"));
    c.expect_clean_close();
    drop(c);
    let closes = server.log.closes();
    server.finish();
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "closed gracefully: {closes:?}"
    );
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let server = http_support::start(Config::default());
    let mut plain = Client::connect(server.addr);
    plain.send(b"GET /plaintext HTTP/1.0\r\n\r\n");
    let r = plain.response();
    assert_plaintext(&r);
    assert_eq!(r.header("Connection"), Some("close"));
    plain.expect_clean_close();

    let mut kept = Client::connect(server.addr);
    for _ in 0..3 {
        kept.send(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = kept.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
    drop((plain, kept));
    let m = server.finish();
    assert_eq!(m.accepted, 2);
}

#[test]
fn curl_reuses_the_connection() {
    if !common::tools::have("curl") {
        common::tools::skip_or_fail("curl is not installed (apt-get install curl)");
        return;
    }
    let server = http_support::start(Config::default());
    let plaintext = format!("http://{}/plaintext", server.addr);
    let json = format!("http://{}/json", server.addr);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--max-time",
            "20",
            &plaintext,
            &json,
            &plaintext,
        ])
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(
        stdout,
        r#"Hello, World!{"message":"Hello, World!"}Hello, World!"#
    );
    assert!(
        stderr.contains("Re-using existing connection")
            || stderr.contains("Reusing existing connection"),
        "curl did not reuse its connection: {stderr}"
    );
    let m = server.finish();
    assert_eq!(m.accepted, 1, "curl used one connection for three requests");
}

//! The HTTP example answers pipelined requests in order, with one write per
//! batch of requests read together: 16 requests sent in one segment get 16
//! responses in order from a single `send`; thousands sent at once are all
//! answered, in order, in batches of bounded size.

mod common;
mod example_server;
mod http_support;

use http_support::{Client, pipelined};
use netloop_http::server::Config;

/// The body each path answers with, to check the order of responses.
fn expected_body(path: &str) -> &'static str {
    match path {
        "/plaintext" => "Hello, World!",
        "/json" => r#"{"message":"Hello, World!"}"#,
        _ => "Not Found\n",
    }
}

#[test]
fn sixteen_pipelined_requests_get_one_write() {
    let server = http_support::start(Config::default());
    let paths = ["/plaintext", "/json", "/plaintext", "/missing"];
    let mut c = Client::connect(server.addr);
    // Warm up, so the counters below only see the pipelined batch.
    assert_eq!(c.get("/plaintext").status, 200);
    let before = http_support::stats(&server);

    c.send(&pipelined(&paths, 16));
    for i in 0..16 {
        let r = c.response();
        assert_eq!(
            r.body_str(),
            expected_body(paths[i % 4]),
            "response {i} out of order"
        );
    }
    let after = http_support::stats(&server);
    let (responses, batches, writes) = (
        after.responses - before.responses,
        after.batches - before.batches,
        after.writes - before.writes,
    );
    assert_eq!(responses, 16);
    assert_eq!(writes, batches, "one write per batch read together");
    // 16 requests of 39 bytes went out in one write: on loopback they
    // arrive together, so one batch answers them all.
    assert_eq!(batches, 1, "the 16 requests were answered together");
    drop(c);
    server.finish();
}

#[test]
fn thousands_of_pipelined_requests_are_answered_in_order() {
    let server = http_support::start(Config::default());
    let paths = ["/json", "/plaintext", "/plaintext"];
    let n = 5000;
    let mut c = Client::connect(server.addr);
    let writer = common::write_in_background(&c.stream, pipelined(&paths, n), false);
    for i in 0..n {
        let r = c.response();
        assert_eq!(
            r.body_str(),
            expected_body(paths[i % 3]),
            "response {i} out of order"
        );
    }
    writer.join().unwrap();
    let stats = http_support::stats(&server);
    assert_eq!(stats.responses, n as u64);
    assert!(
        stats.writes < n as u64 / 10,
        "responses were batched: {stats:?}"
    );
    drop(c);
    server.finish();
}

//! The HTTP example under a graceful shutdown: a keep-alive connection
//! between requests is closed at once (long before the grace period ends),
//! and one in the middle of a request gets its answer, then a clean close.

mod common;
mod example_server;
mod http_support;

use std::time::Duration;

use http_support::Client;
use netloop_http::server::Config;

#[test]
fn idle_connections_close_and_requests_in_progress_finish() {
    let server = http_support::start(Config::default());
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.get("/plaintext").status, 200);
    let mut busy = Client::connect(server.addr);
    busy.send(b"GET /json HTTP/1.1\r\nHo");
    server.wait_log("both connections are open", |log| log.conns().len() == 2);
    // Let the partial request reach the handler before the shutdown.
    common::wait_until("the partial request was read", || {
        server.metrics().bytes_in >= 39 + 22
    });

    // Grace far beyond the clients' read timeout: only an early close passes.
    server.handle.shutdown(Duration::from_secs(600)).unwrap();
    idle.expect_clean_close();

    busy.send(b"st: t\r\n\r\n");
    let r = busy.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), r#"{"message":"Hello, World!"}"#);
    busy.stream.shutdown(std::net::Shutdown::Write).unwrap();
    busy.expect_clean_close();
    drop((idle, busy));

    let closes = server.log.closes();
    server.finish();
    assert!(
        closes.values().flatten().all(|r| r.is_graceful()),
        "{closes:?}"
    );
}

//! The HTTP example's header timeout: a client that sends its request too
//! slowly (slowloris), or nothing at all, gets 408 and a close once the
//! timeout has passed since the request began; a keep-alive connection idle
//! between requests is not affected by it.

mod common;
mod example_server;
mod http_support;

use std::io::Write;
use std::time::{Duration, Instant};

use http_support::Client;
use netloop_http::server::Config;

const TIMEOUT: Duration = Duration::from_millis(500);

fn config() -> Config {
    Config {
        header_timeout: TIMEOUT,
        ..Config::default()
    }
}

#[test]
fn a_slow_request_gets_408_and_a_close() {
    let server = http_support::start(config());
    // Idle keep-alive connection: one request answered, then silence.
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.get("/plaintext").status, 200);

    let mut slow = Client::connect(server.addr);
    let started = Instant::now();
    let request = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: 1234567890\r\n\r\n";
    // One byte at a time, each well within the timeout, the whole well past
    // it: progress does not extend the deadline.
    let mut sent = 0;
    while sent < request.len() && !slow.server_spoke().unwrap() {
        slow.stream.write_all(&request[sent..sent + 1]).unwrap();
        sent += 1;
        std::thread::sleep(TIMEOUT / 10);
    }
    assert!(
        sent < request.len(),
        "the server waited for the whole slow request"
    );
    let r = slow.response();
    assert_eq!(r.status, 408);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(started.elapsed() >= TIMEOUT, "408 came before the timeout");
    slow.stream.shutdown(std::net::Shutdown::Write).unwrap();
    slow.expect_clean_close();

    // The idle connection outlived the header timeout and still serves.
    assert_eq!(idle.get("/json").status, 200);
    drop((idle, slow));
    server.finish();
}

#[test]
fn a_silent_connection_gets_408_and_a_close() {
    let server = http_support::start(config());
    let mut silent = Client::connect(server.addr);
    let r = silent.response();
    assert_eq!(r.status, 408);
    silent.stream.shutdown(std::net::Shutdown::Write).unwrap();
    silent.expect_clean_close();
    drop(silent);
    let stats = http_support::stats(&server);
    server.finish();
    assert_eq!(stats.rejected, 1);
}

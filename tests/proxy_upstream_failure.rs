//! The proxy example when the upstream fails: a refused connect closes the
//! client promptly (clean EOF, long before the connect timeout) and is
//! counted; a reset on either side aborts the other side (RST passed on).

mod common;
mod example_server;
mod proxy_support;

use common::ReadRetrying;
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use netloop::{CloseReason, ConnectErrorKind};
use netloop_examples::proxy;

use common::read_to_end;

#[test]
fn refused_upstream_closes_the_client_promptly() {
    // A port with nothing listening: connects are refused.
    let (listener, dead_addr) = proxy_support::upstream_listener();
    drop(listener);
    let config = proxy::Config {
        // Far beyond the client's read timeout: only the refusal can close it.
        connect_timeout: Duration::from_secs(600),
        ..proxy::Config::new(dead_addr)
    };
    let proxy = proxy_support::start(config);
    let mut client = common::client(proxy.addr);
    let (got, end) = read_to_end(&mut client);
    assert!(got.is_empty() && end.is_ok(), "clean EOF: {end:?}");
    drop(client);

    proxy.wait_no_conns();
    let stats = proxy.query(|rc| rc.shared().clone());
    let m = proxy.finish();
    assert_eq!(stats.connect_failures, 1);
    assert_eq!(
        m.closed_with(CloseReason::ConnectFailed(ConnectErrorKind::Refused)),
        1
    );
}

#[test]
fn upstream_reset_aborts_the_client() {
    let (listener, upstream_addr) = proxy_support::upstream_listener();
    let proxy = proxy_support::start(proxy::Config::new(upstream_addr));
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).unwrap();
        common::reset(s);
    });
    let mut client = common::client(proxy.addr);
    client.write_all(b"hello").unwrap();
    upstream.join().unwrap();
    let mut buf = [0u8; 16];
    let err = client
        .read_retrying(&mut buf)
        .expect_err("the client is reset, not closed");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    drop(client);

    let m = proxy.finish();
    assert_eq!(m.closed_with(CloseReason::Reset), 1, "upstream side: {m:?}");
    assert_eq!(m.closed_with(CloseReason::Aborted), 1, "client side: {m:?}");
}

#[test]
fn client_reset_aborts_the_upstream() {
    let (listener, upstream_addr) = proxy_support::upstream_listener();
    let proxy = proxy_support::start(proxy::Config::new(upstream_addr));
    let upstream = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(common::PATIENCE)).unwrap();
        read_to_end(&mut s)
    });
    let mut client = common::client(proxy.addr);
    client.write_all(b"hello").unwrap();
    // Wait until the proxy has passed the bytes on, then reset.
    common::wait_until("the bytes reach upstream", || {
        proxy.metrics().bytes_out >= 5
    });
    common::reset(client);
    let (got, end) = upstream.join().unwrap();
    assert_eq!(got, b"hello");
    assert_eq!(
        end.expect_err("upstream reset").kind(),
        ErrorKind::ConnectionReset
    );

    let m = proxy.finish();
    assert_eq!(m.closed_with(CloseReason::Reset), 1, "client side: {m:?}");
    assert_eq!(
        m.closed_with(CloseReason::Aborted),
        1,
        "upstream side: {m:?}"
    );
}

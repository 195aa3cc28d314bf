//! A handler that panics aborts only its own connection (reason Panicked);
//! the loop and the other connections carry on.

mod common;

use std::io::{ErrorKind, Read, Write};

use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{CloseReason, Ctx, Handler, ListenOptions};

struct Fragile;

impl Handler for Fragile {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if input.starts_with(b"boom") {
            panic!("handler bug, provoked by the test");
        }
        Echo.on_read(ctx, input);
    }
}

#[test]
fn a_panic_closes_only_its_connection() {
    let server = serve(ListenOptions::default(), || Fragile);
    let mut healthy = server.client();
    let mut doomed = server.client();
    healthy.write_all(b"one").unwrap();
    let mut buf = [0u8; 3];
    healthy.read_exact(&mut buf).unwrap();

    doomed.write_all(b"boom").unwrap();
    let err = doomed
        .read_retrying(&mut [0u8; 4])
        .expect_err("the panicking connection is reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    healthy.write_all(b"two").unwrap();
    healthy.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"two");
    drop(healthy);
    server.wait_log("both closed", |log| log.closes().len() == 2);
    let reasons: Vec<_> = server.log.closes().into_values().map(|r| r[0]).collect();
    assert!(reasons.contains(&CloseReason::Panicked), "{reasons:?}");
    let metrics = server.finish();
    assert_eq!(metrics.panics, 1);
}

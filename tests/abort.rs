//! abort() drops the queue and resets the connection: the peer sees
//! ECONNRESET, and on_close reports Aborted.

mod common;

use std::io::{ErrorKind, Write};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, Ctx, Handler, ListenOptions};

struct AbortOnRead;

impl Handler for AbortOnRead {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
        ctx.abort();
    }
}

#[test]
fn abort_resets_the_peer() {
    let server = serve(ListenOptions::default(), || AbortOnRead);
    let mut c = server.client();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 8];
    let err = c
        .read_retrying(&mut buf)
        .expect_err("an aborted connection is reset, not closed");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let id = server.log.conns()[0];
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    assert_eq!(
        server.log.of(id).last(),
        Some(&Ev::Close(CloseReason::Aborted))
    );
    let metrics = server.finish();
    assert_eq!(metrics.closed_with(CloseReason::Aborted), 1);
}

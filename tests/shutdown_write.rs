//! Our shutdown_write after a large queued write: the peer receives every
//! byte and then EOF; on_half_close fires; reading goes on afterwards.

mod common;

use std::io::Write;

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, ConnState, Ctx, Handler, ListenOptions};

const SIZE: usize = 5 << 20;

#[derive(Default)]
struct SendThenShut {
    after_half_close: Vec<u8>,
}

impl Handler for SendThenShut {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.send(&pattern(SIZE)).unwrap();
        ctx.shutdown_write();
        // The queue must drain first: the state changes only after the callback.
        assert!(
            ctx.queued() > 0,
            "a 5 MiB write should not fit the kernel buffer at once"
        );
    }
    fn on_half_close(&mut self, ctx: &mut Ctx<'_>) {
        assert_eq!(ctx.queued(), 0);
        assert_eq!(ctx.conn_state(), ConnState::WriteClosed);
        assert!(
            ctx.send(b"late").is_err(),
            "send after shutdown_write is refused"
        );
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        assert_eq!(ctx.conn_state(), ConnState::WriteClosed);
        self.after_half_close.extend_from_slice(input);
        input.clear();
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        assert_eq!(self.after_half_close, b"bye");
        ctx.close();
    }
}

#[test]
fn peer_gets_every_byte_then_eof_and_can_still_talk() {
    // A small kernel send buffer, so the 5 MiB really queue in user space.
    let opts = ListenOptions::default().conn(ConnOptions::default().send_buffer(64 << 10));
    let server = serve(opts, SendThenShut::default);
    let mut c = server.client();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = c.read_retrying(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), SIZE);
    assert!(got == pattern(SIZE));
    let id = server.log.conns()[0];
    assert!(server.log.of(id).contains(&Ev::HalfClose));
    // Half-closed by the server, the connection still carries our bytes.
    c.write_all(b"bye").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let evs = server.log.of(id);
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    server.finish();
}

//! The peer shuts its write side: the handler sees on_eof, can still send,
//! and the whole reply arrives before the server's FIN.

mod common;

use std::io::Write;

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnState, Ctx, Handler, ListenOptions};

const REPLY: usize = 3 << 20;

/// Collects the request; on the peer's FIN answers with a large reply and closes.
#[derive(Default)]
struct ReplyOnEof {
    request: Vec<u8>,
}

impl Handler for ReplyOnEof {
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.request.extend_from_slice(input);
        input.clear();
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        assert_eq!(ctx.conn_state(), ConnState::ReadClosed);
        assert_eq!(self.request, b"request");
        ctx.send(&pattern(REPLY))
            .expect("sending after the peer's FIN works");
        ctx.close();
    }
}

#[test]
fn reply_after_peer_fin_arrives_in_full() {
    let server = serve(ListenOptions::default(), ReplyOnEof::default);
    let mut c = server.client();
    c.write_all(b"request").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, end) = read_to_end(&mut c);
    end.expect("clean end of the reply");
    assert_eq!(got.len(), REPLY);
    assert!(got == pattern(REPLY));
    let id = server.log.conns()[0];
    server.wait_log("the connection closed", |log| {
        log.closes().contains_key(&id)
    });
    let evs = server.log.of(id);
    assert!(evs.contains(&Ev::Eof));
    assert_eq!(evs.last(), Some(&Ev::Close(CloseReason::PeerClosed)));
    server.finish();
}

//! Once a callback has asked to close (any verb), `send` in the same
//! callback fails with `WriteClosed`, nothing of it goes out, and
//! `conn_state()` already shows the close.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use netloop::bytes::{Bytes, BytesMut};
use netloop::{ConnState, Ctx, Error, Handler, ListenOptions};

#[derive(Clone, Copy, Debug)]
enum Verb {
    Close,
    ShutdownWrite,
    LingerClose,
    Abort,
}

/// What the handler saw right after the verb.
#[derive(Debug, Default)]
struct Seen {
    state: Option<ConnState>,
    send_refused: bool,
    send_bytes_refused: bool,
}

struct ReplyThenVerb {
    verb: Verb,
    seen: Arc<Mutex<Seen>>,
}

impl Handler for ReplyThenVerb {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
        ctx.send(b"reply").unwrap();
        match self.verb {
            Verb::Close => ctx.close(),
            Verb::ShutdownWrite => ctx.shutdown_write(),
            Verb::LingerClose => ctx.linger_close(Duration::from_secs(5)),
            Verb::Abort => ctx.abort(),
        }
        let mut seen = self.seen.lock().unwrap();
        seen.state = Some(ctx.conn_state());
        seen.send_refused = matches!(ctx.send(b"late"), Err(Error::WriteClosed));
        seen.send_bytes_refused = matches!(
            ctx.send_bytes(Bytes::from_static(b"late")),
            Err(Error::WriteClosed)
        );
    }
}

fn run(verb: Verb) -> (Seen, Vec<u8>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handler_seen = seen.clone();
    let server = serve(ListenOptions::default(), move || ReplyThenVerb {
        verb,
        seen: handler_seen.clone(),
    });
    let mut c = server.client();
    c.write_all(b"go").unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got); // an abort ends in a reset
    drop(c);
    let id = server.log.conns()[0];
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    server.finish();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (seen, got)
}

#[test]
fn send_after_close_in_the_same_callback_is_refused() {
    let (seen, got) = run(Verb::Close);
    assert_eq!(seen.state, Some(ConnState::LingerFlushing));
    assert!(seen.send_refused && seen.send_bytes_refused, "{seen:?}");
    assert_eq!(got, b"reply");
}

#[test]
fn send_after_shutdown_write_in_the_same_callback_is_refused() {
    let (seen, got) = run(Verb::ShutdownWrite);
    assert_eq!(seen.state, Some(ConnState::WriteClosing));
    assert!(seen.send_refused && seen.send_bytes_refused, "{seen:?}");
    assert_eq!(got, b"reply");
}

#[test]
fn send_after_linger_close_in_the_same_callback_is_refused() {
    let (seen, got) = run(Verb::LingerClose);
    assert_eq!(seen.state, Some(ConnState::LingerFlushing));
    assert!(seen.send_refused && seen.send_bytes_refused, "{seen:?}");
    assert_eq!(got, b"reply");
}

#[test]
fn send_after_abort_in_the_same_callback_is_refused() {
    let (seen, got) = run(Verb::Abort);
    assert_eq!(seen.state, Some(ConnState::Closing));
    assert!(seen.send_refused && seen.send_bytes_refused, "{seen:?}");
    assert!(!got.ends_with(b"late"), "a late send went out: {got:?}");
}

//! Reaching `max_input` never strands a connection: `on_input_full` fires
//! with what is buffered; by default the connection closes gracefully with
//! `CloseReason::InputFull`; a handler that keeps it still has the idle
//! timeout running, which the peer's silence then ends.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use netloop::bytes::BytesMut;
use netloop::{CloseReason, ConnOptions, Ctx, Handler, ListenOptions, Verdict};

const MAX_INPUT: usize = 64 * 1024;

/// Length-prefixed frames (a 4-byte big-endian length, then the body),
/// answered with "ok"; a frame is consumed only once whole.
struct Frames {
    keep_when_full: bool,
    /// `max_input` as `ctx.options()` reported it, at `on_input_full`.
    seen_cap: Arc<Mutex<Option<usize>>>,
}

impl Handler for Frames {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        while input.len() >= 4 {
            let len = u32::from_be_bytes([input[0], input[1], input[2], input[3]]) as usize;
            if input.len() < 4 + len {
                return; // wait for the rest of the frame
            }
            let _ = input.split_to(4 + len);
            ctx.send(b"ok").unwrap();
        }
    }

    fn on_input_full(&mut self, ctx: &mut Ctx<'_>, buffered: usize) -> Verdict {
        *self.seen_cap.lock().unwrap() = Some(ctx.options().max_input);
        assert!(buffered >= ctx.options().max_input);
        if self.keep_when_full {
            Verdict::Keep
        } else {
            Verdict::Close
        }
    }
}

fn serve_frames(keep_when_full: bool, opts: ConnOptions) -> (Server, Arc<Mutex<Option<usize>>>) {
    let seen_cap = Arc::new(Mutex::new(None));
    let seen = seen_cap.clone();
    let server = serve(
        ListenOptions::default().conn(opts.max_input(MAX_INPUT)),
        move || Frames {
            keep_when_full,
            seen_cap: seen.clone(),
        },
    );
    (server, seen_cap)
}

/// One small frame, then the header of a frame larger than `max_input`
/// and part of its body; then silence, the socket left open.
fn send_oversized_frame(c: &mut std::net::TcpStream) {
    c.write_all(&[0, 0, 0, 1, b'x']).unwrap();
    c.write_all(&(4 * MAX_INPUT as u32).to_be_bytes()).unwrap();
    c.write_all(&vec![b'y'; 2 * MAX_INPUT]).unwrap();
}

#[test]
fn a_frame_larger_than_max_input_closes_the_connection_with_input_full() {
    let (server, seen_cap) = serve_frames(false, ConnOptions::default());
    let mut c = server.client();
    send_oversized_frame(&mut c);
    // The reply to the small frame, then our clean EOF: never a reset.
    let (got, end) = read_to_end(&mut c);
    end.expect("a clean EOF");
    assert_eq!(got, b"ok");
    drop(c);
    let id = server.log.conns()[0];
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    let events = server.log.of(id);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Ev::InputFull(n) if *n >= MAX_INPUT)),
        "no on_input_full: {events:?}"
    );
    assert_eq!(events.last(), Some(&Ev::Close(CloseReason::InputFull)));
    assert_eq!(*seen_cap.lock().unwrap(), Some(MAX_INPUT));
    let m = server.finish();
    assert_eq!(m.closed_with(CloseReason::InputFull), 1);
}

#[test]
fn a_handler_that_keeps_a_full_connection_still_has_its_idle_timeout() {
    const IDLE: Duration = Duration::from_millis(300);
    let (server, _) = serve_frames(true, ConnOptions::default().idle_timeout(IDLE));
    let mut c = server.client();
    send_oversized_frame(&mut c);
    server.wait_log("accepted", |log| !log.conns().is_empty());
    let id = server.log.conns()[0];
    server.wait_log("the input filled up", |log| {
        log.of(id).iter().any(|e| matches!(e, Ev::InputFull(_)))
    });
    // Kept, reading paused by the cap, the peer silent: the idle timeout
    // (not the handler's pause) ends it.
    server.wait_log("closed", |log| log.closes().contains_key(&id));
    assert_eq!(
        server.log.of(id).last(),
        Some(&Ev::Close(CloseReason::IdleTimeout))
    );
    drop(c);
    server.finish();
}

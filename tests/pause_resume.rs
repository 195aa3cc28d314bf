//! pause_read holds input back (TCP flow control pushes on the peer);
//! resume_read hands back what was buffered and reads what waits in the
//! kernel without a new event.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use netloop::bytes::BytesMut;
use netloop::{Ctx, Handler, ListenOptions, TimerId};

/// Takes one byte, then pauses for a while; on resume echoes what it sees.
#[derive(Default)]
struct Sleepy {
    paused_once: bool,
}

impl Handler for Sleepy {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        if !self.paused_once {
            self.paused_once = true;
            // Keep the input (do not consume), pause, and resume later.
            ctx.pause_read();
            ctx.set_timer(Duration::from_millis(300));
            return;
        }
        ctx.send(input).unwrap();
        input.clear();
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId) {
        ctx.resume_read();
    }
}

#[test]
fn resume_delivers_buffered_and_kernel_data_without_new_input() {
    let server = serve(ListenOptions::default(), Sleepy::default);
    let mut c = server.client();
    c.write_all(b"first").unwrap();
    server.wait_log("the handler saw the first read", |log| {
        log.count(|e| matches!(e, Ev::Read(_))) == 1
    });
    // Sent while paused: stays in the kernel until resume.
    c.write_all(b"-second").unwrap();
    let mut got = [0u8; 12];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"first-second");
    drop(c);
    server.finish();
}

//! pause_read holds input back (TCP flow control pushes on the peer):
//! nothing is delivered, nor read from the kernel, while the peer goes on
//! sending; resume_read hands back what was buffered and reads what waits
//! in the kernel without a new event, and everything arrives in order.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::unacknowledged;
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
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
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

/// Takes every byte it is handed (in order, into `got`) and pauses reading
/// at its first read; the test resumes it.
struct PauseAtFirst {
    got: Arc<Mutex<Vec<u8>>>,
    paused: bool,
}

impl Handler for PauseAtFirst {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.got.lock().unwrap().extend_from_slice(input);
        input.clear();
        if !self.paused {
            self.paused = true;
            ctx.pause_read();
        }
    }
}

#[test]
fn nothing_is_delivered_while_paused_and_everything_arrives_in_order_after_resume() {
    // Sent while paused: well within the socket buffers, so it all reaches
    // the server's kernel.
    const WHILE_PAUSED: usize = 32 << 10;
    // Sent after resuming: more than the buffers hold.
    const AFTER: usize = 1 << 20;
    let got = Arc::new(Mutex::new(Vec::new()));
    let handler_got = got.clone();
    let server = serve(ListenOptions::default(), move || PauseAtFirst {
        got: handler_got.clone(),
        paused: false,
    });
    let reads = |log: &Log| log.count(|e| matches!(e, Ev::Read(_)));
    let data = pattern(5 + WHILE_PAUSED + AFTER);
    let mut c = server.client();
    c.write_all(&data[..5]).unwrap();
    server.wait_log("the first read", |log| reads(log) == 1);
    let id = server.log.conns()[0];

    // The peer keeps sending, in many small writes.
    for chunk in data[5..5 + WHILE_PAUSED].chunks(512) {
        c.write_all(chunk).unwrap();
    }
    wait_until("the server's kernel holds all that was sent", || {
        unacknowledged(&c) == 0
    });
    // The reactor had turns to deliver it: the socket was readable before
    // the first of these calls was posted, so that call's turn saw it, and
    // each later call runs in a later turn.
    for _ in 0..3 {
        server.handle.call(|_| ()).unwrap();
    }
    assert_eq!(
        reads(&server.log),
        1,
        "on_read while paused: {:?}",
        server.log.of(id)
    );
    assert_eq!(got.lock().unwrap().len(), 5);
    let stats = server
        .handle
        .call(move |rc| rc.conn(id).stats())
        .unwrap()
        .unwrap();
    assert_eq!(stats.bytes_in, 5, "read from the kernel while paused");

    server
        .handle
        .call(move |rc| rc.conn(id).resume_read())
        .unwrap()
        .unwrap();
    let writer = write_in_background(&c, data[5 + WHILE_PAUSED..].to_vec(), false);
    wait_until("everything arrived", || {
        got.lock().unwrap().len() >= data.len()
    });
    writer.join().unwrap();
    assert!(
        *got.lock().unwrap() == data,
        "the bytes arrived out of order or changed"
    );
    drop(c);
    server.finish();
}

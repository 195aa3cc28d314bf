//! With max_connections, accepting pauses at the cap (clients beyond it
//! wait in the kernel's queue and are not served; the loop does not spin)
//! and resumes below it: each connection that leaves lets exactly one
//! waiting client in, until every client has been served. The number of
//! open connections never exceeds the cap.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::procfs::{ThreadCpu, current_tid};
use common::*;
use netloop::bytes::BytesMut;
use netloop::handler::Echo;
use netloop::{Ctx, Handler, ListenOptions};

const CAP: usize = 5;
const EXTRA: usize = 10;

/// Echo that records the most connections ever open at once.
struct Counted {
    peak: Arc<AtomicUsize>,
}

impl Handler for Counted {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        self.peak
            .fetch_max(ctx.reactor().conn_count(), Ordering::SeqCst);
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        Echo.on_read(ctx, input);
    }
}

fn ping(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).unwrap();
    let mut buf = vec![0u8; msg.len()];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(buf, msg);
}

/// Whether a reply arrives within `wait` (it must not while the client is
/// still waiting in the accept queue).
fn answered_within(c: &mut TcpStream, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1];
    let answered = match c.read_retrying(&mut buf) {
        Ok(_) => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read: {e}"),
    };
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    answered
}

#[test]
fn accepting_pauses_at_the_cap_and_resumes_below_it() {
    let peak = Arc::new(AtomicUsize::new(0));
    let server_peak = peak.clone();
    let opts = ListenOptions::default().max_connections(CAP);
    let server = serve(opts, move || Counted {
        peak: server_peak.clone(),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |_| tx.send(current_tid()).unwrap())
        .unwrap();
    let mut reactor_cpu = ThreadCpu::open(rx.recv().unwrap());
    let handle = server.handle.clone();

    let mut inside: Vec<TcpStream> = (0..CAP).map(|_| server.client()).collect();
    wait_until("the first clients are in", || {
        handle.metrics().open == CAP as u64
    });
    let mut waiting: Vec<TcpStream> = (0..EXTRA).map(|_| server.client()).collect();
    for (i, c) in waiting.iter_mut().enumerate() {
        c.write_all(&[i as u8]).unwrap();
    }
    // At the cap: the waiting clients get nothing, and the loop sleeps.
    let share = reactor_cpu.share_during(|| {
        assert!(!answered_within(
            &mut waiting[0],
            Duration::from_millis(500)
        ));
    });
    println!("at the cap: reactor thread CPU {:.1}%", share * 100.0);
    assert!(share < 0.10, "the loop spins at the cap: {share:.2}");
    assert_eq!(handle.metrics().accepted, CAP as u64);
    for c in inside.iter_mut() {
        ping(c, b"inside");
    }

    // One leaves: exactly one waiting client is let in, and served.
    drop(inside.pop());
    wait_until("one waiting client was accepted", || {
        handle.metrics().accepted == CAP as u64 + 1
    });
    let mut first = waiting.remove(0);
    let mut byte = [0u8; 1];
    first.read_exact(&mut byte).unwrap();
    assert_eq!(byte, [0]);
    assert!(!answered_within(
        &mut waiting[0],
        Duration::from_millis(200)
    ));
    assert_eq!(handle.metrics().accepted, CAP as u64 + 1);

    // Everyone inside leaves, one at a time: every waiting client is served.
    inside.push(first);
    let mut served = 0;
    for (i, mut c) in waiting.into_iter().enumerate() {
        drop(inside.remove(0));
        c.read_exact(&mut byte).unwrap();
        assert_eq!(byte, [i as u8 + 1]);
        ping(&mut c, b"served");
        inside.push(c);
        served += 1;
    }
    assert_eq!(served, EXTRA - 1);
    drop(inside);
    drop(handle);
    let metrics = server.finish();
    assert_eq!(metrics.accepted, (CAP + EXTRA) as u64);
    assert!(
        peak.load(Ordering::SeqCst) <= CAP,
        "{} connections were open at once (cap {CAP})",
        peak.load(Ordering::SeqCst)
    );
}

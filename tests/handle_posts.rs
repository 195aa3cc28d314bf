//! Closures posted through a ReactorHandle run in posting order; many posts
//! between two turns cost one wake-up and run in one turn; posting or
//! calling after stop returns Error::Stopped instead of hanging.

mod common;

use std::sync::{Arc, Mutex, mpsc};

use common::*;
use netloop::handler::Discard;
use netloop::{Error, ListenOptions};

#[test]
fn posts_run_in_order() {
    let server = serve(ListenOptions::default(), || Discard);
    let seen = Arc::new(Mutex::new(Vec::new()));
    const N: u32 = 20_000;
    // Two posting threads: each one's closures run in its own order.
    let threads: Vec<_> = (0..2u32)
        .map(|t| {
            let (handle, seen) = (server.handle.clone(), seen.clone());
            std::thread::spawn(move || {
                for i in 0..N {
                    let seen = seen.clone();
                    handle
                        .post(move |_| seen.lock().unwrap().push((t, i)))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A call is posted after everything above: when it answers, all ran.
    server.handle.call(|_| ()).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2 * N as usize);
    for t in 0..2 {
        let order: Vec<u32> = seen
            .iter()
            .filter(|(from, _)| *from == t)
            .map(|&(_, i)| i)
            .collect();
        assert_eq!(order, (0..N).collect::<Vec<_>>(), "thread {t}'s order");
    }
    let m = server.finish();
    assert_eq!(m.posted, 2 * N as u64 + 2, "posts, the call and the stop");
}

#[test]
fn many_posts_between_two_turns_cost_one_wake_up() {
    let server = serve(ListenOptions::default(), || Discard);
    let handle = &server.handle;
    // Nothing pending: the last post's wake-up has been consumed.
    handle.call(|_| ()).unwrap();
    let before = handle.metrics();

    // Hold the loop inside a posted closure, so the posts below all land
    // between two turns.
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    handle
        .post(move |_| {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(PATIENCE).expect("the test lets go");
        })
        .unwrap();
    started_rx
        .recv_timeout(PATIENCE)
        .expect("the loop runs the post");

    const N: usize = 1000;
    let turns = Arc::new(Mutex::new(Vec::with_capacity(N)));
    for _ in 0..N {
        let turns = turns.clone();
        handle
            .post(move |rc| turns.lock().unwrap().push(rc.metrics().turns))
            .unwrap();
    }
    go_tx.send(()).unwrap();
    wait_until("all posts ran", || turns.lock().unwrap().len() == N);

    let after = handle.metrics();
    assert_eq!(
        after.wakeups - before.wakeups,
        2,
        "one wake-up for the blocking post, one for the {N} posts behind it"
    );
    let turns = turns.lock().unwrap();
    assert!(
        turns.iter().all(|&t| t == turns[0]),
        "the {N} posts ran in one turn"
    );
    assert!(turns[0] > before.turns);
    server.finish();
}

#[test]
fn posting_or_calling_after_stop_fails_instead_of_hanging() {
    let mut server = serve(ListenOptions::default(), || Discard);
    let handle = server.handle.clone();

    // Threads keep calling while the reactor stops: each call either gets
    // its answer or Error::Stopped, never waits forever.
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..2 {
        let (handle, done_tx) = (handle.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let outcome = loop {
                if let Err(e) = handle.call(|rc| rc.conn_count()) {
                    break e;
                }
            };
            done_tx.send(outcome).unwrap();
        });
    }
    wait_until("calls are answered", || handle.metrics().posted > 100);
    let summary = server.stop();
    for _ in 0..2 {
        let outcome = done_rx.recv_timeout(PATIENCE).expect("no call hangs");
        assert!(matches!(outcome, Error::Stopped), "{outcome:?}");
    }
    assert_eq!(summary.open, 0);

    assert!(handle.is_stopped());
    assert!(matches!(handle.post(|_| {}), Err(Error::Stopped)));
    assert!(matches!(handle.call(|_| 1), Err(Error::Stopped)));
    assert!(matches!(handle.stop(), Err(Error::Stopped)));
    server.log.assert_one_close_each();
}

#[test]
fn a_call_from_the_loop_thread_fails_instead_of_waiting_for_itself() {
    let server = serve(ListenOptions::default(), || Discard);
    let inner = server.handle.clone();
    let outcome = server.handle.call(move |_| inner.call(|_| ())).unwrap();
    assert!(matches!(outcome, Err(Error::OnLoopThread)), "{outcome:?}");

    // A closure that panics: the caller gets an error, the loop goes on.
    let err = server
        .handle
        .call(|_| -> u8 { panic!("boom") })
        .unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(server.handle.call(|_| 7).unwrap(), 7);
    let m = server.finish();
    assert_eq!(m.panics, 1);
}

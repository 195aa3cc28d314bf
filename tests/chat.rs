//! The chat example broadcasts every line to the other clients, and a
//! client that never reads does not slow them: with three clients, one
//! stuck, the other two receive every line while the stuck one is
//! disconnected when its queue reaches the cap, with a warning logged.

mod common;
mod example_server;

#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Mutex;

use netloop::{CloseReason, ListenOptions};

use common::{Recorder, wait_until};
use example_server::Running;

/// Log records, kept for the assertions.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}", r.level(), r.args());
            RECORDS.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn start(config: chat::Config) -> Running<chat::Room> {
    let _ = log::set_logger(&Capture).map(|()| log::set_max_level(log::LevelFilter::Info));
    example_server::start(chat::Room::default, move |reactor, log| {
        let config = Rc::new(config);
        let opts = ListenOptions::default().conn(config.conn_options());
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                Recorder::new(chat::Member::new(config.clone()), log.clone())
            })
            .expect("listen");
        reactor.listener_addr(listener).expect("listener address")
    })
}

/// Connects a client and waits until the room has `members` members.
fn join(room: &Running<chat::Room>, addr: SocketAddr, members: usize) -> TcpStream {
    let s = common::client(addr);
    wait_until("the client joined", || {
        room.query(|rc| rc.state().members.len()) == members
    });
    s
}

#[test]
fn lines_reach_the_others_and_a_stuck_client_is_dropped() {
    let config = chat::Config {
        max_send_queue: 64 * 1024,
        send_buffer: Some(16 * 1024),
        ..chat::Config::default()
    };
    let room = start(config);
    let mut a = join(&room, room.addr, 1);
    let b = join(&room, room.addr, 2);
    let stuck = join(&room, room.addr, 3);
    socket2::SockRef::from(&stuck)
        .set_recv_buffer_size(4096)
        .unwrap();
    let [a_id, b_id, stuck_id] = room.log.conns()[..] else {
        panic!("three clients");
    };

    // A says a line first, and B sees it tagged with A's id.
    let mut b_lines = BufReader::new(b.try_clone().unwrap()).lines();
    a.write_all(b"hello\n").unwrap();
    assert_eq!(b_lines.next().unwrap().unwrap(), format!("{a_id}: hello"));

    // A talks a lot: far more than the stuck client's kernel buffers and
    // queue cap can hold. B reads every line, in order; A waits for B
    // after each batch, so B is never the slow one.
    let line = |i: usize| format!("line {i:06} {}", "x".repeat(80));
    let (batches, per_batch) = (200, 100);
    for batch in 0..batches {
        let range = batch * per_batch..(batch + 1) * per_batch;
        let text: String = range.clone().map(|i| line(i) + "\n").collect();
        a.write_all(text.as_bytes()).unwrap();
        for i in range {
            let got = b_lines.next().expect("B keeps receiving").unwrap();
            assert_eq!(got, format!("{a_id}: {}", line(i)));
        }
    }

    // The stuck client was cut off, with a warning; B was not.
    room.wait_log("the stuck client is disconnected", |log| {
        log.closes().contains_key(&stuck_id)
    });
    assert_eq!(room.log.closes()[&stuck_id], vec![CloseReason::Aborted]);
    assert!(
        !room.log.closes().contains_key(&b_id),
        "B is still connected"
    );
    let warned = RECORDS.lock().unwrap().iter().any(|r| {
        r.starts_with("WARN") && r.contains(&stuck_id.to_string()) && r.contains("slow consumer")
    });
    assert!(
        warned,
        "a warning names the slow consumer: {:?}",
        RECORDS.lock().unwrap()
    );
    assert_eq!(room.query(|rc| rc.state().dropped_slow), 1);

    // B still gets what A says next.
    a.write_all(b"still here?\n").unwrap();
    assert_eq!(
        b_lines.next().unwrap().unwrap(),
        format!("{a_id}: still here?")
    );
    drop((a, b, stuck, b_lines));
    room.finish();
}

#[test]
fn an_overlong_line_is_refused() {
    let room = start(chat::Config {
        max_line: 100,
        ..chat::Config::default()
    });
    let mut a = join(&room, room.addr, 1);
    a.write_all(&[b'y'; 200]).unwrap();
    a.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, end) = common::read_to_end(&mut a);
    assert!(end.is_ok(), "clean close: {end:?}");
    assert_eq!(got, b"error: line too long\n");
    drop(a);
    room.finish();
}

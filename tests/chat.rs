//! The chat example broadcasts every line to the other clients, and a
//! client that never reads does not slow them: with three clients, one
//! stuck, the other two receive every line while the stuck one is
//! disconnected when its queue reaches the cap, with a warning logged.
//! A reader slower than the sender is not dropped: the sender is held back
//! by TCP while a member's queue is above its high mark, and the reader
//! gets every line of a 100 MB flood while a member that never reads is
//! dropped and the server's queues stay bounded.

mod common;
mod example_server;

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netloop::bytes::BytesMut;
use netloop::{
    CloseReason, ConnId, ConnectError, Ctx, Handler, LingerOutcome, ListenOptions, TimerId, Verdict,
};
use netloop_examples::chat;

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

/// The most bytes each connection ever had queued, recorded when it closed.
#[derive(Clone, Default)]
struct Peaks(Arc<Mutex<HashMap<ConnId, u64>>>);

impl Peaks {
    fn of(&self, id: ConnId) -> u64 {
        *self
            .0
            .lock()
            .unwrap()
            .get(&id)
            .expect("the connection closed")
    }
}

/// Passes every callback to the chat's handler, and records the
/// connection's peak queue when it closes.
struct Probe<H> {
    inner: H,
    peaks: Peaks,
}

type Room = chat::Room;

impl<H: Handler<Room>> Handler<Room> for Probe<H> {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Room>) {
        self.inner.on_open(ctx)
    }
    fn on_read(&mut self, ctx: &mut Ctx<'_, Room>, input: &mut BytesMut) {
        self.inner.on_read(ctx, input)
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Room>) {
        self.inner.on_eof(ctx)
    }
    fn on_half_close(&mut self, ctx: &mut Ctx<'_, Room>) {
        self.inner.on_half_close(ctx)
    }
    fn on_linger_close(&mut self, ctx: &mut Ctx<'_, Room>, outcome: LingerOutcome) {
        self.inner.on_linger_close(ctx, outcome)
    }
    fn on_high_water(&mut self, ctx: &mut Ctx<'_, Room>, queued: usize) {
        self.inner.on_high_water(ctx, queued)
    }
    fn on_drain(&mut self, ctx: &mut Ctx<'_, Room>) {
        self.inner.on_drain(ctx)
    }
    fn on_keepalive_failure(&mut self, ctx: &mut Ctx<'_, Room>, error: &io::Error) {
        self.inner.on_keepalive_failure(ctx, error)
    }
    fn on_idle_timeout(&mut self, ctx: &mut Ctx<'_, Room>) -> Verdict {
        self.inner.on_idle_timeout(ctx)
    }
    fn on_write_stall(&mut self, ctx: &mut Ctx<'_, Room>) -> Verdict {
        self.inner.on_write_stall(ctx)
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Room>, timer: TimerId, tag: u32) {
        self.inner.on_timer(ctx, timer, tag)
    }
    fn on_connect_error(&mut self, ctx: &mut Ctx<'_, Room>, error: &ConnectError) {
        self.inner.on_connect_error(ctx, error)
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Room>) {
        self.inner.on_shutdown(ctx)
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Room>, reason: CloseReason) {
        let peak = ctx.stats().peak_queued;
        self.peaks.0.lock().unwrap().insert(ctx.id(), peak);
        self.inner.on_close(ctx, reason)
    }
}

fn start(config: chat::Config) -> Running<chat::Room> {
    start_probed(config, Peaks::default())
}

/// Starts the chat server; `peaks` gets each connection's peak queue.
fn start_probed(config: chat::Config, peaks: Peaks) -> Running<chat::Room> {
    let _ = log::set_logger(&Capture).map(|()| log::set_max_level(log::LevelFilter::Info));
    example_server::start(chat::Room::default, move |reactor, log| {
        let config = Rc::new(config);
        let opts = ListenOptions::default().conn(config.conn_options());
        let listener = reactor
            .listen("127.0.0.1:0".parse().unwrap(), opts, move || {
                let member = chat::Member::new(config.clone());
                let probe = Probe {
                    inner: member,
                    peaks: peaks.clone(),
                };
                Recorder::new(probe, log.clone())
            })
            .expect("listen");
        reactor.listener_addr(listener).expect("listener address")
    })
}

/// Connects a client and waits until the room has `members` members.
fn join(room: &Running<chat::Room>, addr: SocketAddr, members: usize) -> TcpStream {
    let s = common::client(addr);
    wait_until("the client joined", || {
        room.query(|rc| rc.shared().members.len()) == members
    });
    s
}

#[test]
fn lines_reach_the_others_and_a_stuck_client_is_dropped() {
    // The cap is below the default high mark (256 KiB): no member is ever
    // behind, so nobody is held back and the stuck client meets the cap.
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
    assert_eq!(room.query(|rc| rc.shared().dropped_slow), 1);

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

/// Reads at a deliberate pace: a short pause before every read.
struct Paced {
    stream: TcpStream,
    pause: Duration,
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(self.pause);
        self.stream.read(buf)
    }
}

/// Line `i` of the flood: its number, a space and filler, 1 KiB with the
/// newline.
fn flood_line(i: usize, filler: &[u8]) -> Vec<u8> {
    let mut line = format!("{i:06} ").into_bytes();
    line.extend_from_slice(filler);
    line.push(b'\n');
    line
}

#[test]
fn a_slow_reader_gets_a_whole_flood_while_a_stuck_client_is_dropped() {
    const LINES: usize = 100_000;
    const LINE: usize = 1024;
    // Short timeouts: a client whose queue does not move for half a second
    // is dropped.
    let config = chat::Config {
        high_water: 256 << 10,
        low_water: 64 << 10,
        max_send_queue: 1 << 20,
        write_stall_timeout: Duration::from_millis(500),
        send_buffer: Some(64 << 10),
        ..chat::Config::default()
    };
    let cap = config.max_send_queue as u64;
    // A member's queue passes the high mark by one broadcast at most: the
    // lines of one read (at most the default read budget, 256 KiB) with
    // their tags.
    let near_high = (config.high_water + 2 * (256 << 10)) as u64;
    let peaks = Peaks::default();
    let room = start_probed(config, peaks.clone());
    let mut sender = join(&room, room.addr, 1);
    let reader = join(&room, room.addr, 2);
    socket2::SockRef::from(&reader)
        .set_recv_buffer_size(64 << 10)
        .unwrap();
    let stuck = join(&room, room.addr, 3);
    socket2::SockRef::from(&stuck)
        .set_recv_buffer_size(4096)
        .unwrap();
    let [sender_id, reader_id, stuck_id] = room.log.conns()[..] else {
        panic!("three clients");
    };
    let filler = vec![b'x'; LINE - "000000 \n".len()];
    assert_eq!(flood_line(0, &filler).len(), LINE);

    // The sender floods 100,000 lines of 1 KiB as fast as TCP lets it.
    let writer = {
        let mut sender = sender.try_clone().unwrap();
        let filler = filler.clone();
        std::thread::spawn(move || -> io::Result<()> {
            let per_write = 64;
            for first in (0..LINES).step_by(per_write) {
                let mut batch = Vec::with_capacity(per_write * LINE);
                for i in first..(first + per_write).min(LINES) {
                    batch.extend_from_slice(&flood_line(i, &filler));
                }
                sender.write_all(&batch)?;
            }
            Ok(())
        })
    };

    // The reader takes 16 KiB at a time with a pause before each read:
    // slower than the sender, but it never stops. It gets every line, in
    // order, tagged with the sender's id.
    let mut lines = BufReader::with_capacity(
        16 * 1024,
        Paced {
            stream: reader.try_clone().unwrap(),
            pause: Duration::from_micros(100),
        },
    );
    let tag = format!("{sender_id}: ");
    let mut got = Vec::with_capacity(tag.len() + LINE);
    for i in 0..LINES {
        got.clear();
        match lines.read_until(b'\n', &mut got) {
            Ok(n) if n > 0 && got.ends_with(b"\n") => {}
            end => panic!("the reader got {i} lines, then {end:?}"),
        }
        let expected = flood_line(i, &filler);
        let (got_tag, got_line) = got.split_at(tag.len().min(got.len()));
        if got_tag != tag.as_bytes() || got_line != expected {
            let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned();
            panic!(
                "line {i}: got {:?}..., expected {:?}...",
                show(&got),
                show(&[tag.as_bytes(), &expected].concat())
            );
        }
    }
    writer
        .join()
        .expect("writer thread")
        .expect("the sender wrote every line");

    // The client that never reads was dropped (no progress, or its cap);
    // the sender and the reader were not.
    room.wait_log("the stuck client is disconnected", |log| {
        log.closes().contains_key(&stuck_id)
    });
    let stuck_closed = room.log.closes()[&stuck_id].clone();
    assert!(
        matches!(
            stuck_closed[..],
            [CloseReason::WriteStall] | [CloseReason::Aborted]
        ),
        "the stuck client: {stuck_closed:?}"
    );
    for (who, id) in [("sender", sender_id), ("reader", reader_id)] {
        assert!(
            !room.log.closes().contains_key(&id),
            "the {who} is still connected: {:?}",
            room.log.of(id)
        );
    }
    assert_eq!(room.query(|rc| rc.shared().dropped_slow), 1);

    // The room still works: the reader gets what the sender says next.
    sender.write_all(b"done\n").unwrap();
    got.clear();
    lines.read_until(b'\n', &mut got).unwrap();
    assert_eq!(got, format!("{tag}done\n").as_bytes());

    drop((sender, reader, stuck, lines));
    room.finish();

    // Memory stayed bounded: no queue passed the cap, and the reader's
    // stayed near its high mark, below the cap.
    for id in [sender_id, reader_id, stuck_id] {
        assert!(peaks.of(id) <= cap, "{id}: {} bytes queued", peaks.of(id));
    }
    let reader_peak = peaks.of(reader_id);
    assert!(
        reader_peak <= near_high && near_high < cap,
        "the reader had {reader_peak} bytes queued"
    );
    eprintln!(
        "peaks: sender {}, reader {reader_peak}, stuck {}",
        peaks.of(sender_id),
        peaks.of(stuck_id)
    );
}

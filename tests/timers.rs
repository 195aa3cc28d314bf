//! Timers through the public API hold their contract with thousands of
//! them: one-shot timers fire in deadline order (ties in the order they were
//! set) and never early; cancelled timers never fire and cancelling twice
//! reports `false`; repeating timers fire at a steady rate, never ahead of
//! schedule, until cancelled (also from their own callback); connection
//! timers behave the same and die with their connection, and those of
//! closed connections do not pile up in the queue. The turn's clock
//! (`now`) is read when the poll returns, at full resolution, and is the same
//! for every callback of the turn.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use netloop::bytes::BytesMut;
use netloop::{Ctx, Handler, ListenOptions, Reactor, TimerId};

/// A small deterministic generator (no `rand` dependency).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One fired timer: which, its delay, when it was set and when it fired.
/// The reactor reads its clock somewhere between `set_at` and
/// `set_returned` (on a loaded machine the thread may be preempted in
/// between, so the two can be milliseconds apart).
#[derive(Clone, Copy)]
struct Fire {
    index: usize,
    delay: Duration,
    set_at: Instant,
    set_returned: Instant,
    fired_at: Instant,
}

/// Stops the reactor once `count` reaches `target`.
fn stop_when(rc: &mut netloop::ReactorCtx<'_>, count: usize, target: usize) {
    if count == target {
        rc.stop();
    }
}

#[test]
fn thousands_of_one_shot_timers_fire_in_deadline_order_and_never_early() {
    const N: usize = 5000;
    let mut reactor = Reactor::new().unwrap();
    let fires = Rc::new(RefCell::new(Vec::with_capacity(N)));
    let mut rng = Lcg(7);
    // Let the reactor's clock go stale: timers set now must still count
    // from now, not from when the loop last looked at the clock.
    std::thread::sleep(Duration::from_millis(30));
    let set_returned = Rc::new(RefCell::new(vec![None; N]));
    for index in 0..N {
        let delay = Duration::from_millis(rng.below(300));
        let (fires, returned) = (fires.clone(), set_returned.clone());
        let set_at = Instant::now();
        reactor.ctx().schedule(delay, move |rc| {
            let fired_at = Instant::now();
            let mut fires = fires.borrow_mut();
            fires.push(Fire {
                index,
                delay,
                set_at,
                set_returned: returned.borrow()[index].expect("set before it fired"),
                fired_at,
            });
            stop_when(rc, fires.len(), N);
        });
        set_returned.borrow_mut()[index] = Some(Instant::now());
    }
    let deadline = Instant::now() + PATIENCE;
    while !reactor.is_finished() {
        assert!(Instant::now() < deadline, "timers did not all fire");
        reactor.turn(Some(Duration::from_millis(100))).unwrap();
    }
    let fires = fires.borrow();
    assert_eq!(fires.len(), N);
    let mut last_by_delay: HashMap<Duration, usize> = HashMap::new();
    for (i, f) in fires.iter().enumerate() {
        let waited = f.fired_at - f.set_at;
        assert!(
            waited >= f.delay,
            "timer {} fired after {waited:?}, set for {:?}",
            f.index,
            f.delay
        );
        if let Some(prev) = last_by_delay.insert(f.delay, f.index) {
            assert!(
                prev < f.index,
                "timers of equal delay fired out of the order they were set"
            );
        }
        if i > 0 {
            // Deadline order, at the queue's millisecond resolution: the
            // earlier fire's deadline is at least `set_at + delay`, the
            // later one's at most `set_returned + delay`.
            let p = &fires[i - 1];
            assert!(
                f.set_returned + f.delay + Duration::from_millis(1) >= p.set_at + p.delay,
                "timer {} (due {:?}) fired after timer {} (due {:?})",
                p.index,
                p.set_at + p.delay,
                f.index,
                f.set_returned + f.delay,
            );
        }
    }
}

#[test]
fn cancelled_timers_never_fire_even_when_cancelled_by_other_timers() {
    const N: usize = 3000;
    let mut reactor = Reactor::new().unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    // Every third timer after the first (index 1, 4, 7, ...) is cancelled
    // from inside a timer that fires first: set first and due first, so it
    // runs before them however long setting the rest takes.
    let late: Rc<RefCell<Vec<TimerId>>> = Rc::default();
    let cancelled_late = Rc::new(RefCell::new(0));
    let (to_cancel, counter) = (late.clone(), cancelled_late.clone());
    reactor.ctx().schedule(Duration::from_millis(5), move |rc| {
        for id in to_cancel.borrow().iter() {
            if rc.cancel_timer(*id) {
                *counter.borrow_mut() += 1;
            }
        }
    });
    let mut ids = Vec::with_capacity(N);
    let mut rng = Lcg(11);
    for index in 0..N {
        let fired = fired.clone();
        let delay = Duration::from_millis(20 + rng.below(200));
        ids.push(
            reactor
                .ctx()
                .schedule(delay, move |_| fired.borrow_mut().push(index)),
        );
    }
    // Cancel every third now; cancelling again reports false.
    for id in ids.iter().step_by(3) {
        assert!(reactor.ctx().cancel_timer(*id));
        assert!(!reactor.ctx().cancel_timer(*id));
    }
    late.borrow_mut()
        .extend(ids.iter().skip(1).step_by(3).copied());
    reactor
        .ctx()
        .schedule(Duration::from_millis(400), |rc| rc.stop());
    reactor.run().unwrap();
    let fired = fired.borrow();
    assert_eq!(*cancelled_late.borrow(), N / 3);
    let mut expected: Vec<usize> = (0..N).filter(|i| i % 3 == 2).collect();
    let mut got = fired.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        got, expected,
        "exactly the uncancelled timers fire, once each"
    );
    // A timer that fired is no longer cancellable.
    assert!(!reactor.ctx().cancel_timer(ids[2]));
}

#[test]
fn repeating_timers_keep_their_rate_and_stop_when_cancelled() {
    const N: usize = 500;
    let mut reactor = Reactor::new().unwrap();
    let start = Instant::now();
    let fires: Rc<RefCell<Vec<Vec<Instant>>>> = Rc::new(RefCell::new(vec![Vec::new(); N]));
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let period = Duration::from_millis(10 + (i % 5) as u64 * 10);
        let fires = fires.clone();
        let id = reactor
            .ctx()
            .schedule_repeating(period, move |_| fires.borrow_mut()[i].push(Instant::now()));
        ids.push((id, period));
    }
    // One repeating timer cancels itself from its own callback on its 3rd run.
    let own = Rc::new(RefCell::new((None::<TimerId>, 0u32, false)));
    let own2 = own.clone();
    let self_id = reactor
        .ctx()
        .schedule_repeating(Duration::from_millis(15), move |rc| {
            let mut own = own2.borrow_mut();
            own.1 += 1;
            if own.1 == 3 {
                own.2 = rc.cancel_timer(own.0.unwrap());
            }
        });
    own.borrow_mut().0 = Some(self_id);
    let cancel_at = Duration::from_millis(600);
    let cancelled_at = Rc::new(RefCell::new(None));
    let at = cancelled_at.clone();
    let to_cancel = ids.clone();
    reactor.ctx().schedule(cancel_at, move |rc| {
        for (id, _) in &to_cancel {
            assert!(rc.cancel_timer(*id), "a repeating timer stays cancellable");
        }
        *at.borrow_mut() = Some(Instant::now());
    });
    reactor
        .ctx()
        .schedule(cancel_at + Duration::from_millis(200), |rc| rc.stop());
    reactor.run().unwrap();
    let cancelled_at = cancelled_at.borrow().expect("cancelled");
    let own = own.borrow();
    assert_eq!(own.1, 3, "the self-cancelled timer ran again");
    assert!(
        own.2,
        "cancelling a repeating timer from its own callback reports true"
    );
    for (i, times) in fires.borrow().iter().enumerate() {
        let period = ids[i].1;
        assert!(
            times.iter().all(|t| *t <= cancelled_at),
            "timer {i} fired after cancel"
        );
        // Fixed rate: the k-th firing is never ahead of start + k periods.
        for (k, t) in times.iter().enumerate() {
            let earliest = start + period * (k as u32 + 1);
            assert!(*t >= earliest, "timer {i} run {k} came early");
        }
        let expected = (cancel_at.as_millis() / period.as_millis()) as usize;
        assert!(
            times.len() >= expected / 2 && times.len() <= expected + 1,
            "timer {i} (every {period:?}) ran {} times, expected about {expected}",
            times.len()
        );
    }
    for (id, _) in ids {
        assert!(!reactor.ctx().cancel_timer(id));
    }
}

/// Shared record of a connection handler's timers.
#[derive(Default)]
struct TimerLog {
    /// Timer id → (index, delay, set at).
    set: HashMap<TimerId, (usize, Duration, Instant)>,
    fired: Vec<(usize, Duration, Instant, Instant)>,
    cancelled: Vec<usize>,
    interval_runs: u32,
    interval_cancel_ok: bool,
    leftover_fired: bool,
}

const CONN_TIMERS: usize = 1000;
/// The delay of the timer set as the connection closes.
const LEFTOVER: Duration = Duration::from_millis(500);

/// Sets 1000 timers on open, cancels every fourth, runs an interval five
/// times, then closes once every uncancelled timer fired. As it closes it
/// sets one more timer, which must never fire: the connection is gone (as
/// soon as the peer answers our FIN) long before it is due.
struct TimerConn {
    log: Arc<Mutex<TimerLog>>,
    interval: Option<TimerId>,
    leftover: Option<TimerId>,
}

impl Handler for TimerConn {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        let mut log = self.log.lock().unwrap();
        let mut ids = Vec::new();
        for i in 0..CONN_TIMERS {
            let delay = Duration::from_millis((i as u64 * 37) % 250);
            let set_at = Instant::now();
            let id = ctx.set_timer(delay);
            log.set.insert(id, (i, delay, set_at));
            ids.push(id);
        }
        for (i, id) in ids.iter().enumerate().step_by(4) {
            assert!(ctx.cancel_timer(*id));
            log.cancelled.push(i);
        }
        self.interval = Some(ctx.set_interval(Duration::from_millis(20)));
    }

    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: TimerId, _tag: u32) {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap();
        if Some(timer) == self.leftover {
            log.leftover_fired = true;
        } else if Some(timer) == self.interval {
            log.interval_runs += 1;
            if log.interval_runs == 5 {
                log.interval_cancel_ok = ctx.cancel_timer(timer);
            }
        } else {
            let (i, delay, set_at) = log.set[&timer];
            log.fired.push((i, delay, set_at, now));
        }
        if log.fired.len() == CONN_TIMERS - CONN_TIMERS / 4
            && log.interval_runs >= 5
            && self.leftover.is_none()
        {
            self.leftover = Some(ctx.set_timer(LEFTOVER));
            ctx.close();
        }
    }
}

#[test]
fn connection_timers_fire_in_order_cancel_and_die_with_the_connection() {
    let log = Arc::new(Mutex::new(TimerLog::default()));
    let handler_log = log.clone();
    let server = serve(ListenOptions::default(), move || TimerConn {
        log: handler_log.clone(),
        interval: None,
        leftover: None,
    });
    let mut client = server.client();
    let (_, end) = read_to_end(&mut client);
    end.unwrap();
    drop(client);
    server.wait_log("the connection closed", |l| l.closes().len() == 1);
    // A reactor timer set now is due after the leftover one (same delay,
    // set later), and timers fire in deadline order: once it fired, the
    // leftover timer would have fired too.
    let (tx, rx) = std::sync::mpsc::channel();
    server
        .handle
        .post(move |rc| {
            rc.schedule(LEFTOVER + Duration::from_millis(5), move |_| {
                let _ = tx.send(());
            });
        })
        .unwrap();
    rx.recv_timeout(PATIENCE)
        .expect("the later reactor timer fired");
    server.finish();
    let log = log.lock().unwrap();
    assert!(!log.leftover_fired, "a timer of a closed connection fired");
    assert_eq!(
        log.interval_runs, 5,
        "the interval ran after it was cancelled"
    );
    assert!(log.interval_cancel_ok);
    assert_eq!(log.fired.len(), CONN_TIMERS - CONN_TIMERS / 4);
    assert!(
        log.fired.iter().all(|f| f.0 % 4 != 0),
        "a cancelled timer fired"
    );
    for w in log.fired.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            b.2 + b.1 + Duration::from_millis(1) >= a.2 + a.1,
            "out of order"
        );
        if a.1 == b.1 {
            assert!(
                a.0 < b.0,
                "equal delays fired out of the order they were set"
            );
        }
    }
    for f in &log.fired {
        assert!(f.3 - f.2 >= f.1, "timer {} fired early", f.0);
    }
}

/// Sets a long timer on open. The first connection keeps it and must see
/// it fire; every later one closes at once, leaving its timer behind.
struct LongTimer {
    first: bool,
    fired: Arc<Mutex<bool>>,
}

impl Handler for LongTimer {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        if self.first {
            ctx.set_timer(Duration::from_secs(3));
        } else {
            ctx.set_timer(Duration::from_secs(3600));
            ctx.close();
        }
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, _tag: u32) {
        *self.fired.lock().unwrap() = true;
        ctx.close();
    }
}

#[test]
fn timers_of_closed_connections_do_not_pile_up() {
    const CLOSED: usize = 3000;
    let fired = Arc::new(Mutex::new(false));
    let handler_fired = fired.clone();
    let opened = Arc::new(Mutex::new(0usize));
    let server = serve(ListenOptions::default(), move || {
        let mut n = opened.lock().unwrap();
        *n += 1;
        LongTimer {
            first: *n == 1,
            fired: handler_fired.clone(),
        }
    });
    let keeper = server.client();
    server.wait_log("the first connection open", |log| log.conns().len() == 1);
    for _ in 0..CLOSED {
        let mut c = server.client();
        let (_, end) = read_to_end(&mut c);
        end.unwrap();
    }
    server.wait_log("all short connections closed", |log| {
        log.closes().len() == CLOSED
    });
    let pending = server.handle.metrics().timers_pending;
    assert!(
        pending < 1100,
        "{pending} timers pending after {CLOSED} connections set one and closed"
    );
    // The live connection's timer survived the sweeps.
    wait_until("the kept timer fired", || *fired.lock().unwrap());
    drop(keeper);
    server.finish();
}

/// Records the turn's clock at each read, and counts `on_close` calls and
/// callbacks after one.
struct StampReads {
    stamps: Rc<RefCell<Vec<Instant>>>,
    closes: Rc<RefCell<(usize, usize)>>,
    closed: bool,
}

impl StampReads {
    fn callback(&mut self) {
        if self.closed {
            self.closes.borrow_mut().1 += 1;
        }
    }
}

impl Handler for StampReads {
    fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        self.callback();
        input.clear();
        self.stamps.borrow_mut().push(ctx.now());
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.callback();
        ctx.close();
    }
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, _reason: netloop::CloseReason) {
        self.callback();
        self.closed = true;
        self.closes.borrow_mut().0 += 1;
    }
}

#[test]
fn the_turn_clock_is_when_the_poll_returned_and_every_callback_of_the_turn_sees_it() {
    let mut reactor = Reactor::new().unwrap();
    let stamps = Rc::new(RefCell::new(Vec::new()));
    let closes = Rc::new(RefCell::new((0, 0)));
    let (shared, shared_closes) = (stamps.clone(), closes.clone());
    let listener = reactor
        .listen(
            "127.0.0.1:0".parse().unwrap(),
            ListenOptions::default(),
            move || StampReads {
                stamps: shared.clone(),
                closes: shared_closes.clone(),
                closed: false,
            },
        )
        .unwrap();
    let addr = reactor.listener_addr(listener).unwrap();
    let mut clients = [client(addr), client(addr)];
    let deadline = Instant::now() + PATIENCE;
    while reactor.conn_count() < 2 {
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
        assert!(Instant::now() < deadline, "both connections accepted");
    }
    // On loopback a write returns once the bytes are in the peer's receive
    // queue, so the next turn finds both readable without waiting, and its
    // clock is read between `before` and `after`.
    for c in &mut clients {
        c.write_all(b"x").unwrap();
    }
    let before = Instant::now();
    reactor.turn(Some(PATIENCE)).unwrap();
    let after = Instant::now();
    {
        let stamps = stamps.borrow();
        assert_eq!(stamps.len(), 2, "both reads in one turn");
        assert_eq!(stamps[0], stamps[1], "one clock per turn");
        // Full resolution: a clock kept in whole milliseconds since the
        // reactor was made would lag `before` by up to a millisecond.
        assert!(
            before <= stamps[0] && stamps[0] <= after,
            "the turn's clock lies within the turn"
        );
    }
    // The clients leave: both connections close, once each.
    drop(clients);
    let deadline = Instant::now() + PATIENCE;
    while reactor.conn_count() > 0 {
        reactor.turn(Some(Duration::from_millis(10))).unwrap();
        assert!(Instant::now() < deadline, "both connections closed");
    }
    assert_eq!(reactor.metrics().open, 0);
    assert_eq!(
        *closes.borrow(),
        (2, 0),
        "(on_close calls, callbacks after one)"
    );
}

/// Sets three timers, two tagged, and records the tags they fire with.
struct Tagged {
    tags: Arc<Mutex<Vec<u32>>>,
}

impl Handler for Tagged {
    fn on_open(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_timer_tagged(Duration::from_millis(60), 9);
        ctx.set_timer(Duration::from_millis(20));
        ctx.set_timer_tagged(Duration::from_millis(40), 7);
    }
    fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
        input.clear();
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, tag: u32) {
        let mut tags = self.tags.lock().unwrap();
        tags.push(tag);
        if tags.len() == 3 {
            ctx.close();
        }
    }
}

#[test]
fn a_timer_hands_its_tag_back_to_on_timer() {
    let tags = Arc::new(Mutex::new(Vec::new()));
    let seen = tags.clone();
    let server = serve(ListenOptions::default(), move || Tagged {
        tags: seen.clone(),
    });
    let mut c = server.client();
    let (_, end) = read_to_end(&mut c);
    end.expect("closed after the third timer");
    drop(c);
    assert_eq!(
        *tags.lock().unwrap(),
        vec![0, 7, 9],
        "tags in deadline order"
    );
    server.wait_log("closed", |log| !log.closes().is_empty());
    server.finish();
}

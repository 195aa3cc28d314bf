//! The line-based chat server of the `chat` example (`examples/chat.rs`:
//! `cargo run --release --example chat -- [ADDR]`, default
//! `127.0.0.1:7100`).
//!
//! Every line a client sends goes to all other clients, prefixed with the
//! sender's id: `nc 127.0.0.1 7100` in two terminals, type in one, read in
//! the other.
//!
//! A member that reads slower than others talk is not dropped, and loses
//! no line: while any member's send queue is above its high water mark,
//! the server stops reading from whoever sends (TCP flow control then holds
//! the senders back), and reads them again once no member is above the
//! mark (each one drained to its low mark, or gone). So the room goes at
//! the pace of its slowest reader, and what is queued for each member stays
//! near the high mark.
//!
//! A member that makes no progress cannot hold the room for long: one
//! whose queued bytes do not move for `write_stall_timeout` is disconnected
//! (RST) with a warning, and so is one whose queue would pass the hard cap;
//! the senders are then read again. Lines longer than the limit get an
//! error and a close.
//!
//! The room (who is connected, who is behind, whose reading is held) is
//! the reactor's shared state; a broadcast acts on the other connections
//! by id through `ctx.conn(id)`. The line is built once as `Bytes` and
//! queued by reference for every recipient.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use netloop::bytes::{Bytes, BytesMut};
use netloop::{
    CloseReason, ConnId, ConnOptions, Ctx, Error, Handler, ListenOptions, ListenerId, Reactor,
    ReactorCtx, Verdict,
};

/// Chat settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest line accepted, newline included.
    pub max_line: usize,
    /// Queued bytes at which a member is behind: while one is, senders are
    /// not read. Keep it well below `max_send_queue` (a member's queue can
    /// pass it by one broadcast, at most one read's worth of lines); at or
    /// above the cap there is no holding back, only dropping at the cap.
    pub high_water: usize,
    /// Queued bytes a member that was behind must drain to before senders
    /// are read again.
    pub low_water: usize,
    /// Bytes a client may have waiting for it before it is disconnected.
    pub max_send_queue: usize,
    /// How long a member's queued bytes may make no progress before it is
    /// disconnected; this bounds how long one that stopped reading holds
    /// the room.
    pub write_stall_timeout: Duration,
    /// `SO_SNDBUF` for client sockets (`None`: the system's), which sets how
    /// much the kernel holds for a slow client before the queue grows.
    pub send_buffer: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 4096,
            high_water: 256 * 1024,
            low_water: 64 * 1024,
            max_send_queue: 1024 * 1024,
            write_stall_timeout: Duration::from_secs(5),
            send_buffer: None,
        }
    }
}

/// The reactor's shared state: who is in the room.
#[derive(Debug, Default)]
pub struct Room {
    /// Connected clients, in join order.
    pub members: Vec<ConnId>,
    /// Members whose queue is above the high water mark (not yet drained
    /// to the low one): while there is one, senders are not read.
    pub behind: Vec<ConnId>,
    /// Senders whose reading is paused until no member is behind.
    pub held: Vec<ConnId>,
    /// Clients disconnected for not reading (no progress, or the cap).
    pub dropped_slow: u64,
}

/// Listens on `addr`; every client joins the room.
pub fn serve(
    reactor: &mut Reactor<Room>,
    addr: SocketAddr,
    config: Config,
) -> io::Result<ListenerId> {
    let opts = ListenOptions::default().conn(config.conn_options());
    let config = Rc::new(config);
    reactor.listen(addr, opts, move || Member::new(config.clone()))
}

impl Config {
    /// The connection options of a client.
    pub fn conn_options(&self) -> ConnOptions {
        let conn = ConnOptions::default()
            .water_marks(self.high_water, self.low_water)
            .max_send_queue(self.max_send_queue)
            .write_stall_timeout(self.write_stall_timeout)
            .max_input(self.max_line);
        match self.send_buffer {
            Some(size) => conn.send_buffer(size),
            None => conn,
        }
    }
}

/// One client.
pub struct Member {
    config: Rc<Config>,
}

impl Member {
    /// The handler of a newly accepted client.
    pub fn new(config: Rc<Config>) -> Member {
        Member { config }
    }
}

impl Handler<Room> for Member {
    fn on_open(&mut self, ctx: &mut Ctx<'_, Room>) {
        let id = ctx.id();
        ctx.reactor().shared().members.push(id);
        log::info!(
            "{id} joined ({} in the room)",
            ctx.reactor().shared().members.len()
        );
    }

    fn on_read(&mut self, ctx: &mut Ctx<'_, Room>, input: &mut BytesMut) {
        let Some(end) = input.iter().rposition(|&b| b == b'\n') else {
            if input.len() >= self.config.max_line {
                log::info!(
                    "{}: line over {} bytes: closing",
                    ctx.id(),
                    self.config.max_line
                );
                let _ = ctx.send(b"error: line too long\n");
                ctx.linger_close(std::time::Duration::from_secs(2));
            }
            return;
        };
        // Every complete line of this read, as one message for everyone.
        let lines = input.split_to(end + 1);
        let message = prefix_lines(ctx.id(), &lines);
        broadcast(ctx, message, self.config.high_water);
    }

    fn on_high_water(&mut self, ctx: &mut Ctx<'_, Room>, queued: usize) {
        // Usually already noted by the broadcast that queued the bytes.
        let id = ctx.id();
        log::debug!("{id}: behind ({queued} bytes queued)");
        fall_behind(ctx.reactor().shared(), id);
    }

    fn on_drain(&mut self, ctx: &mut Ctx<'_, Room>) {
        let id = ctx.id();
        log::debug!("{id}: caught up");
        ctx.reactor().shared().behind.retain(|&m| m != id);
        release_senders(ctx.reactor());
    }

    fn on_write_stall(&mut self, ctx: &mut Ctx<'_, Room>) -> Verdict {
        let id = ctx.id();
        log::warn!(
            "{id}: slow consumer (no progress for {:?}, {} bytes queued): disconnecting",
            self.config.write_stall_timeout,
            ctx.queued()
        );
        ctx.reactor().shared().dropped_slow += 1;
        Verdict::Close // abort (RST); on_close lets the senders go on
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Room>, reason: CloseReason) {
        let id = ctx.id();
        let room = ctx.reactor().shared();
        room.members.retain(|&m| m != id);
        room.behind.retain(|&m| m != id);
        room.held.retain(|&m| m != id);
        log::info!("{id} left: {reason} ({} in the room)", room.members.len());
        // A member that was behind is gone: that may free the senders.
        release_senders(ctx.reactor());
    }
}

/// Notes that `id` is behind (once).
fn fall_behind(room: &mut Room, id: ConnId) {
    if !room.behind.contains(&id) {
        room.behind.push(id);
    }
}

/// Once no member is behind, reads the held senders again.
fn release_senders(rc: &mut ReactorCtx<'_, Room>) {
    if !rc.shared().behind.is_empty() || rc.shared().held.is_empty() {
        return;
    }
    let held = std::mem::take(&mut rc.shared().held);
    log::debug!("no member behind: reading {} sender(s) again", held.len());
    for id in held {
        // A sender that closed meanwhile is gone: nothing to resume.
        let _ = rc.conn(id).resume_read();
    }
}

/// `"<id>: <line>\n"` for each line (a `\r` before the `\n` dropped).
fn prefix_lines(from: ConnId, lines: &[u8]) -> Bytes {
    let tag = format!("{from}: ");
    let mut out = BytesMut::with_capacity(lines.len() + 16 * tag.len());
    for line in lines.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(text);
        out.extend_from_slice(b"\n");
    }
    out.freeze()
}

/// Sends `message` to every member but the sender. A member whose queue
/// reaches `high_water` is behind, and then the sender is not read until
/// no member is (nothing is lost: TCP holds the sender back). A member
/// whose queue cannot take the message is disconnected, the others go on.
fn broadcast(ctx: &mut Ctx<'_, Room>, message: Bytes, high_water: usize) {
    let from = ctx.id();
    // The room and the connections, borrowed apart: no copy of the list.
    let (room, mut conns) = ctx.reactor().split();
    let mut behind = Vec::new();
    for &to in room.members.iter().filter(|&&m| m != from) {
        let mut member = conns.conn(to);
        match member.send_bytes(message.clone()) {
            // Noted now, not at its on_high_water (which runs after this
            // callback): the sender stops before its next read.
            Ok(()) if member.queued().is_ok_and(|q| q >= high_water) => behind.push(to),
            Ok(()) | Err(Error::WriteClosed) | Err(Error::NoSuchConn) => {}
            Err(Error::QueueFull { queued, cap, .. }) => {
                log::warn!("{to}: slow consumer ({queued} bytes queued, cap {cap}): disconnecting");
                let _ = member.abort();
                room.dropped_slow += 1;
            }
            Err(e) => log::debug!("{to}: send failed: {e}"),
        }
    }
    for id in behind {
        fall_behind(room, id);
    }
    if !room.behind.is_empty() {
        // Hold the sender until every member has caught up (on_drain) or
        // is gone (on_close).
        if !room.held.contains(&from) {
            room.held.push(from);
            log::debug!(
                "{from}: not read while {} member(s) behind",
                room.behind.len()
            );
        }
        ctx.pause_read();
    }
}

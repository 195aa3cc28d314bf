//! Line-based chat: `cargo run --release --example chat -- [ADDR]`
//! (default `127.0.0.1:7100`).
//!
//! Every line a client sends goes to all other clients, prefixed with the
//! sender's id: `nc 127.0.0.1 7100` in two terminals, type in one, read in
//! the other.
//!
//! A slow consumer never slows the others: each client's send queue has a
//! hard cap, and a client whose queue would pass it is disconnected (RST)
//! with a warning in the log, while everyone else keeps receiving. Lines
//! longer than the limit get an error and a close.
//!
//! The room (who is connected) is the reactor's shared state; a broadcast
//! acts on the other connections by id through `ctx.conn(id)`. The line is
//! built once as `Bytes` and queued by reference for every recipient.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use netloop::bytes::{Bytes, BytesMut};
use netloop::{
    CloseReason, ConnId, ConnOptions, Ctx, Error, Handler, ListenOptions, ListenerId, Reactor,
};

/// Chat settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest line accepted, newline included.
    pub max_line: usize,
    /// Bytes a client may have waiting for it before it is disconnected.
    pub max_send_queue: usize,
    /// `SO_SNDBUF` for client sockets (`None`: the system's), which sets how
    /// much the kernel holds for a slow client before the queue grows.
    pub send_buffer: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 4096,
            max_send_queue: 1024 * 1024,
            send_buffer: None,
        }
    }
}

/// The reactor's shared state: who is in the room.
#[derive(Debug, Default)]
pub struct Room {
    /// Connected clients, in join order.
    pub members: Vec<ConnId>,
    /// Clients disconnected for not reading.
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
            .max_send_queue(self.max_send_queue)
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
        ctx.state().members.push(id);
        log::info!("{id} joined ({} in the room)", ctx.state().members.len());
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
        broadcast(ctx, message);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Room>, reason: CloseReason) {
        let id = ctx.id();
        let room = ctx.state();
        room.members.retain(|&m| m != id);
        log::info!("{id} left: {reason} ({} in the room)", room.members.len());
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
/// cannot take it is too slow: it is disconnected, the others go on.
fn broadcast(ctx: &mut Ctx<'_, Room>, message: Bytes) {
    let from = ctx.id();
    // Taken out for the loop (callbacks of other members cannot run
    // meanwhile: they are only applied after this callback returns).
    let members = std::mem::take(&mut ctx.state().members);
    let mut dropped = 0;
    for &to in members.iter().filter(|&&m| m != from) {
        let mut member = ctx.conn(to);
        match member.send_bytes(message.clone()) {
            Ok(()) | Err(Error::WriteClosed) | Err(Error::NoSuchConn) => {}
            Err(Error::QueueFull { queued, cap, .. }) => {
                log::warn!("{to}: slow consumer ({queued} bytes queued, cap {cap}): disconnecting");
                let _ = member.abort();
                dropped += 1;
            }
            Err(e) => log::debug!("{to}: send failed: {e}"),
        }
    }
    let room = ctx.state();
    room.members = members;
    room.dropped_slow += dropped;
}

fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {a}: {e}"))
        })?,
        None => "127.0.0.1:7100".parse().expect("valid default address"),
    };
    let mut reactor = Reactor::with_state(Room::default())?;
    let listener = serve(&mut reactor, addr, Config::default())?;
    log::info!(
        "chat server listening on {}",
        reactor.listener_addr(listener)?
    );
    reactor.run()?;
    Ok(())
}

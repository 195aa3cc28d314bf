//! Per-connection options: socket options, water marks, caps and timeouts.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// What `send` does when a message would push the queue past
/// [`ConnOptions::max_send_queue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnOverflow {
    /// Refuse the message: `send` returns [`Error::QueueFull`](crate::Error::QueueFull)
    /// and nothing of it is sent or queued. The connection stays open.
    #[default]
    Refuse,
    /// Refuse the message and abort the connection with
    /// [`CloseReason::Overflow`](crate::CloseReason::Overflow).
    Abort,
}

/// TCP keepalive: how long a connection may be idle before the kernel probes
/// the peer, how often it probes and how many unanswered probes declare the
/// peer dead (`ETIMEDOUT`, reported through
/// [`Handler::on_keepalive_failure`](crate::Handler::on_keepalive_failure)).
///
/// The kernel does not probe while sent data is unacknowledged: bound that
/// case with [`ConnOptions::user_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes before the peer is declared dead (`TCP_KEEPCNT`).
    pub probes: u32,
}

/// The default deadline of `close()`'s lingering close ([`ConnOptions::linger`]).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

impl Keepalive {
    /// Probes after `idle` without traffic, every `interval`; the peer is
    /// declared dead after `probes` unanswered ones.
    ///
    /// ```
    /// use std::time::Duration;
    /// let k = netloop::Keepalive::new(Duration::from_secs(10), Duration::from_secs(2), 3);
    /// assert_eq!(k.probes, 3);
    /// ```
    pub fn new(idle: Duration, interval: Duration, probes: u32) -> Keepalive {
        Keepalive {
            idle,
            interval,
            probes,
        }
    }
}

/// Options of one connection, accepted or outbound.
///
/// On Unix domain sockets ([`Reactor::listen_unix`](crate::Reactor::listen_unix),
/// [`Reactor::connect_unix`](crate::Reactor::connect_unix)) the TCP
/// options do not apply: `nodelay` is ignored (on by default, and a Unix
/// socket never delays small writes), while `keepalive`, `user_timeout`
/// and `notsent_lowat` make the listen or connect fail with an
/// [`Unsupported`](std::io::ErrorKind::Unsupported) error rather than be
/// silently dropped. Everything else (buffers, marks, caps, timeouts,
/// linger) works as on TCP.
///
/// Built with chained setters from [`ConnOptions::default()`] (the fields
/// are readable, and new ones may come in any release, so the struct
/// cannot be built as a literal outside this crate):
///
/// ```
/// use std::time::Duration;
/// use netloop::ConnOptions;
///
/// let opts = ConnOptions::default()
///     .water_marks(64 * 1024, 16 * 1024)
///     .max_send_queue(1 << 20)
///     .idle_timeout(Duration::from_secs(30));
/// assert_eq!(opts.high_water, 64 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnOptions {
    /// `TCP_NODELAY` (default on: a reactor writes whole messages).
    pub nodelay: bool,
    /// `SO_SNDBUF`, if set (the kernel doubles it and caps it at `wmem_max`).
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF`, if set. Set it before connect/listen to affect the window.
    pub recv_buffer: Option<usize>,
    /// `TCP_NOTSENT_LOWAT`, if set: keeps the kernel's unsent queue short so
    /// the user-space water marks measure the real backlog.
    pub notsent_lowat: Option<u32>,
    /// Queue size at which [`on_high_water`](crate::Handler::on_high_water) fires.
    pub high_water: usize,
    /// Queue size at or below which [`on_drain`](crate::Handler::on_drain)
    /// fires after a high-water event.
    pub low_water: usize,
    /// Hard cap on queued bytes; see [`OnOverflow`].
    pub max_send_queue: usize,
    /// What a send past the cap does.
    pub on_overflow: OnOverflow,
    /// Unconsumed input at which reading pauses and
    /// [`Handler::on_input_full`](crate::Handler::on_input_full) decides:
    /// by default the connection is closed ([`CloseReason::InputFull`](crate::CloseReason::InputFull)).
    pub max_input: usize,
    /// Most bytes read from one connection per loop turn before others get a
    /// go (fairness under floods). A turn also ends after 16 reads, or after
    /// as many 64 KiB reads as the budget holds if that is more.
    pub read_budget: usize,
    /// How [`close`](crate::Ctx::close) ends a connection. With a deadline
    /// (the default, [`DEFAULT_LINGER`]: 5 s) it is a lingering close: flush
    /// while reading and discarding input, `SHUT_WR`, discard until the
    /// peer's FIN, then close; the peer's replies are never destroyed by an
    /// RST caused by input we left unread. The deadline bounds a flush that
    /// makes no progress and then the wait for the peer's FIN; only passing
    /// it resets the connection ([`CloseReason::LingerTimeout`](crate::CloseReason::LingerTimeout)).
    /// The cost: the descriptor is held until the peer's FIN or the
    /// deadline, though a peer that already sent its FIN costs nothing.
    ///
    /// `None` (or zero) closes at once once flushed: quicker to free the
    /// descriptor, but input arriving meanwhile makes the kernel send RST.
    /// Kept at 10 ms resolution (rounded up), at most 655 s.
    pub linger: Option<Duration>,
    /// TCP keepalive, off by default.
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged
    /// before the kernel gives up on the peer
    /// ([`CloseReason::UserTimeout`](crate::CloseReason::UserTimeout)). With
    /// keepalive on it also replaces the probe count: the peer is declared
    /// dead once probes have gone unanswered for this long.
    pub user_timeout: Option<Duration>,
    /// Close the connection ([`CloseReason::IdleTimeout`](crate::CloseReason::IdleTimeout))
    /// when nothing was received for this long.
    pub idle_timeout: Option<Duration>,
    /// Abort the connection ([`CloseReason::WriteStall`](crate::CloseReason::WriteStall))
    /// when queued bytes made no progress for this long. Off by default;
    /// without it (or `user_timeout`), a peer that stops reading holds a
    /// connection with queued bytes, even a closing one, indefinitely.
    pub write_stall_timeout: Option<Duration>,
    /// TLS on these connections (set with `ListenOptions::tls` or
    /// `ConnectOptions::tls`).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::conn::tls::TlsSetup>,
    /// How long a TLS handshake may take (see
    /// [`tls_handshake_timeout`](ConnOptions::tls_handshake_timeout)).
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
}

impl Default for ConnOptions {
    fn default() -> Self {
        ConnOptions {
            nodelay: true,
            send_buffer: None,
            recv_buffer: None,
            notsent_lowat: None,
            high_water: 1 << 20,
            low_water: 256 << 10,
            max_send_queue: 16 << 20,
            on_overflow: OnOverflow::Refuse,
            max_input: 1 << 20,
            read_budget: 256 << 10,
            linger: Some(DEFAULT_LINGER),
            keepalive: None,
            user_timeout: None,
            idle_timeout: None,
            write_stall_timeout: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_handshake_timeout: crate::conn::tls::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value.into();
            self
        }
    };
}

impl ConnOptions {
    setter!(/// Sets `TCP_NODELAY`.
        nodelay: bool);
    setter!(/// Sets `SO_SNDBUF`.
        send_buffer: usize);
    setter!(/// Sets `SO_RCVBUF`.
        recv_buffer: usize);
    setter!(/// Sets `TCP_NOTSENT_LOWAT`.
        notsent_lowat: u32);
    setter!(/// Sets the hard cap on queued bytes.
        max_send_queue: usize);
    setter!(/// Sets what a send past the cap does.
        on_overflow: OnOverflow);
    setter!(/// Sets the cap on unconsumed input.
        max_input: usize);
    setter!(/// Sets the per-turn read budget in bytes.
        read_budget: usize);
    setter!(/// Sets the deadline of `close()`'s lingering close.
        linger: Duration);

    /// Makes `close()` close as soon as the queue is flushed, without
    /// waiting for the peer's FIN (input left unread then turns the close
    /// into an RST). Same as setting [`linger`](Self::linger) to `None`.
    ///
    /// ```
    /// let opts = netloop::ConnOptions::default().close_at_once();
    /// assert_eq!(opts.linger, None);
    /// ```
    pub fn close_at_once(mut self) -> Self {
        self.linger = None;
        self
    }
    setter!(/// Enables TCP keepalive.
        keepalive: Keepalive);
    setter!(/// Sets `TCP_USER_TIMEOUT`.
        user_timeout: Duration);
    setter!(/// Sets the read-idle timeout.
        idle_timeout: Duration);
    setter!(/// Sets the write-stall timeout.
        write_stall_timeout: Duration);

    /// Sets the high and low water marks of the send queue (`low <= high`).
    pub fn water_marks(mut self, high: usize, low: usize) -> Self {
        self.high_water = high;
        self.low_water = low.min(high);
        self
    }

    /// These options, with `old`'s TLS configuration if they have none
    /// (so that setting the connection options after TLS keeps TLS).
    #[cfg_attr(not(feature = "tls"), allow(unused_mut, unused_variables))]
    pub(crate) fn keeping_tls_of(mut self, old: &ConnOptions) -> ConnOptions {
        #[cfg(feature = "tls")]
        if self.tls.is_none() {
            self.tls = old.tls.clone();
        }
        self
    }

    /// Checks that the marks and caps are consistent.
    pub fn validate(&self) -> io::Result<()> {
        let bad = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_string()));
        if self.low_water > self.high_water {
            return bad("low_water must not exceed high_water");
        }
        if self.max_send_queue == 0 || self.max_input == 0 || self.read_budget == 0 {
            return bad("max_send_queue, max_input and read_budget must be positive");
        }
        if self.keepalive.is_some_and(|k| k.probes == 0) {
            return bad("keepalive probes must be positive");
        }
        Ok(())
    }

    /// Refuses the TCP options a Unix domain socket cannot honour (see
    /// the type's doc).
    pub(crate) fn check_unix(&self) -> io::Result<()> {
        let refuse = |what| Err(crate::error::Error::Unsupported(what).into());
        if self.keepalive.is_some() {
            return refuse("ConnOptions::keepalive: TCP keepalive does not apply to Unix sockets");
        }
        if self.user_timeout.is_some() {
            return refuse(
                "ConnOptions::user_timeout: TCP_USER_TIMEOUT does not apply to Unix sockets",
            );
        }
        if self.notsent_lowat.is_some() {
            return refuse(
                "ConnOptions::notsent_lowat: TCP_NOTSENT_LOWAT does not apply to Unix sockets",
            );
        }
        Ok(())
    }

    /// Whether [`apply_unix`](Self::apply_unix) has anything to set.
    pub(crate) fn has_unix_options(&self) -> bool {
        self.send_buffer.is_some() || self.recv_buffer.is_some()
    }

    /// Applies the socket options that Unix domain sockets have (the
    /// buffer sizes). Accepted Unix sockets do not inherit them from their
    /// listener: this runs per accept, when one is set.
    pub(crate) fn apply_unix(&self, socket: SockRef<'_>) -> io::Result<()> {
        if let Some(size) = self.send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    /// Applies the socket options to a socket. Accepted sockets inherit them
    /// from their listener, so this runs once per listener, not per accept.
    pub(crate) fn apply(&self, socket: SockRef<'_>) -> io::Result<()> {
        socket.set_tcp_nodelay(self.nodelay)?;
        if let Some(size) = self.send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        if let Some(lowat) = self.notsent_lowat {
            socket.set_tcp_notsent_lowat(lowat)?;
        }
        if let Some(k) = self.keepalive {
            let params = TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval)
                .with_retries(k.probes);
            socket.set_tcp_keepalive(&params)?;
        }
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        Ok(())
    }
}

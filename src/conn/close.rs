//! Why a connection ended, and how socket errors map to those reasons.

use std::io;

use crate::error::ConnectErrorKind;

/// Why a connection closed; passed once to [`Handler::on_close`](crate::Handler::on_close).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// We closed gracefully ([`close`](crate::Ctx::close) or a
    /// [`shutdown_write`](crate::Ctx::shutdown_write) that finished both
    /// directions) before the peer finished its side; the queue was flushed.
    Local,
    /// The peer finished its side first (FIN, reported by
    /// [`on_eof`](crate::Handler::on_eof)) and we then closed gracefully with
    /// the queue flushed.
    PeerClosed,
    /// A [`linger_close`](crate::Ctx::linger_close) completed: the queue was
    /// flushed and the peer's FIN arrived before the deadline.
    Lingered,
    /// A lingering close reached its deadline without the peer's FIN; the
    /// connection was reset.
    LingerTimeout,
    /// The peer reset the connection (`ECONNRESET`, or `EPIPE` on send).
    Reset,
    /// We aborted the connection ([`abort`](crate::Ctx::abort)): RST sent
    /// (on a Unix domain socket, which has none, the socket is closed).
    Aborted,
    /// A send passed the queue's hard cap with [`OnOverflow::Abort`](crate::OnOverflow::Abort).
    Overflow,
    /// Nothing was received for the idle timeout.
    IdleTimeout,
    /// Queued bytes made no progress for the write-stall timeout.
    WriteStall,
    /// Keepalive probes went unanswered while nothing we sent was
    /// unacknowledged: the kernel declared the peer dead.
    KeepaliveTimeout,
    /// Sent data stayed unacknowledged past `TCP_USER_TIMEOUT` (or the
    /// kernel's retransmission limit); told apart from a keepalive failure
    /// by the bytes still unacknowledged (`SIOCOUTQ`), whether the kernel
    /// says `ETIMEDOUT` or `EHOSTUNREACH`.
    UserTimeout,
    /// Unconsumed input reached [`max_input`](crate::ConnOptions::max_input)
    /// and [`on_input_full`](crate::Handler::on_input_full) did not keep
    /// the connection: it was closed gracefully (queue flushed, further
    /// input discarded, FIN) without the input being read.
    InputFull,
    /// An outbound connection could not be established.
    ConnectFailed(ConnectErrorKind),
    /// A handler callback panicked; the connection was aborted.
    Panicked,
    /// The reactor stopped, or its graceful shutdown reached its deadline,
    /// while the connection was still open.
    Shutdown,
    /// Any other socket error.
    Error(io::ErrorKind),
    /// TLS failed (cargo feature `tls`): the handshake did not complete in
    /// time or the peer hung up during it, the peer sent a fatal alert, or
    /// we rejected what it sent (its alert then went out before the close).
    Tls(TlsFailure),
    /// The peer's FIN came without its TLS close_notify: the stream may
    /// have been cut short by an attacker or a crash, so what arrived last
    /// may be incomplete (a clean end is [`on_eof`](crate::Handler::on_eof)
    /// and [`PeerClosed`](CloseReason::PeerClosed)). Buffered plaintext was
    /// delivered before.
    Truncated,
}

/// How TLS failed on a connection ([`CloseReason::Tls`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The handshake did not complete within its timeout.
    HandshakeTimeout,
    /// The peer closed or reset the connection during the handshake.
    HandshakeCut,
    /// The peer sent this fatal alert.
    AlertReceived(TlsAlert),
    /// We rejected the peer's TLS (a malformed or unexpected message, plain
    /// text on a TLS port, a certificate that does not verify, no common
    /// protocol or cipher suite) and sent it this alert.
    Rejected(TlsAlert),
}

/// A TLS alert description (RFC 8446, section 6), by its number.
///
/// ```
/// use netloop::TlsAlert;
/// assert_eq!(TlsAlert::DECODE_ERROR.to_string(), "decode_error (50)");
/// assert_eq!(TlsAlert(42).to_string(), "bad_certificate (42)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlsAlert(pub u8);

impl TlsAlert {
    /// `decode_error`: a message could not be parsed (also what plain text
    /// sent to a TLS port gets).
    pub const DECODE_ERROR: TlsAlert = TlsAlert(50);
    /// `handshake_failure`: no acceptable set of parameters.
    pub const HANDSHAKE_FAILURE: TlsAlert = TlsAlert(40);

    /// The alert's name in the RFCs, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            22 => "record_overflow",
            40 => "handshake_failure",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            109 => "missing_extension",
            110 => "unsupported_extension",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            _ => return None,
        })
    }
}

impl std::fmt::Display for TlsAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "alert {}", self.0),
        }
    }
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsFailure::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            TlsFailure::HandshakeCut => f.write_str("peer hung up during the TLS handshake"),
            TlsFailure::AlertReceived(a) => write!(f, "peer sent TLS alert {a}"),
            TlsFailure::Rejected(a) => write!(f, "peer's TLS rejected with alert {a}"),
        }
    }
}

impl CloseReason {
    /// Whether the connection ended cleanly (all queued bytes handed to the
    /// kernel and a FIN sent) rather than by reset, timeout or error.
    pub fn is_graceful(self) -> bool {
        matches!(
            self,
            CloseReason::Local | CloseReason::PeerClosed | CloseReason::Lingered
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::PeerClosed => f.write_str("closed by peer"),
            CloseReason::Lingered => f.write_str("lingering close completed"),
            CloseReason::LingerTimeout => f.write_str("lingering close timed out"),
            CloseReason::Reset => f.write_str("reset by peer"),
            CloseReason::Aborted => f.write_str("aborted"),
            CloseReason::Overflow => f.write_str("send queue overflow"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::WriteStall => f.write_str("write stalled"),
            CloseReason::KeepaliveTimeout => f.write_str("keepalive failed"),
            CloseReason::UserTimeout => f.write_str("unacknowledged data timed out"),
            CloseReason::InputFull => f.write_str("input buffer full"),
            CloseReason::ConnectFailed(kind) => write!(f, "connect failed: {kind}"),
            CloseReason::Panicked => f.write_str("handler panicked"),
            CloseReason::Shutdown => f.write_str("reactor shut down"),
            CloseReason::Error(kind) => write!(f, "socket error: {kind}"),
            CloseReason::Tls(failure) => write!(f, "{failure}"),
            CloseReason::Truncated => f.write_str("peer closed without TLS close_notify"),
        }
    }
}

/// How a [`linger_close`](crate::Ctx::linger_close) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LingerOutcome {
    /// The peer's FIN arrived before the deadline; the close was clean.
    Completed,
    /// The deadline passed first; the connection is reset.
    TimedOut,
}

/// What a socket error on an established connection means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    Reset,
    /// The kernel gave up on the peer (ETIMEDOUT, EHOSTUNREACH, ENETUNREACH).
    PeerDead,
    Other(io::ErrorKind),
}

/// Classifies an error returned by `recv`/`send` on an open connection.
pub(crate) fn classify(err: &io::Error) -> Failure {
    match err.raw_os_error() {
        // ENOTCONN: the connection is gone (e.g. `shutdown` after a reset
        // whose error a read already consumed).
        Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED | libc::ENOTCONN) => {
            Failure::Reset
        }
        Some(libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN) => {
            Failure::PeerDead
        }
        _ => Failure::Other(err.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_failures() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(classify(&e(libc::ECONNRESET)), Failure::Reset);
        assert_eq!(classify(&e(libc::EPIPE)), Failure::Reset);
        assert_eq!(classify(&e(libc::ENOTCONN)), Failure::Reset);
        assert_eq!(classify(&e(libc::ETIMEDOUT)), Failure::PeerDead);
        assert_eq!(classify(&e(libc::EHOSTUNREACH)), Failure::PeerDead);
        assert!(matches!(classify(&e(libc::EBADF)), Failure::Other(_)));
    }

    #[test]
    fn only_clean_endings_are_graceful() {
        assert!(CloseReason::Local.is_graceful());
        assert!(CloseReason::Lingered.is_graceful());
        assert!(!CloseReason::Reset.is_graceful());
        assert!(!CloseReason::LingerTimeout.is_graceful());
    }
}

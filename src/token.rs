//! Identifiers for connections and listeners, and how they become mio tokens.
//!
//! One 64-bit key names a slab slot for its whole life:
//!
//! ```text
//!  63                              32 31      24 23                      0
//! +----------------------------------+----------+------------------------+
//! |            generation            | reactor  |          slot          |
//! +----------------------------------+----------+------------------------+
//! ```
//!
//! The slab reuses the most recently freed slot first, and mio may still hand
//! out an event for a socket closed earlier in the same turn (mio #219). The
//! generation makes such a stale token differ from the key of the slot's new
//! occupant, so the event is dropped instead of reaching the wrong connection.
//! The reactor byte lets a handle route an id to the thread that owns it.

use std::sync::atomic::{AtomicU32, Ordering};

use mio::Token;

const SLOT_BITS: u32 = 24;
const REACTOR_SHIFT: u32 = 24;
const GEN_SHIFT: u32 = 32;

/// The largest slot index a key can name; the slab never grows past it.
pub(crate) const MAX_SLOTS: usize = (1 << SLOT_BITS) - 1;

/// The token of the reactor's waker: a slot index no entry ever gets.
pub(crate) const WAKER_TOKEN: Token = Token(MAX_SLOTS);

/// Where a new reactor or timer queue starts counting generations.
///
/// Every call returns another start, spread over the 32-bit space in
/// golden-ratio steps, so that two reactors of one process (both index 0
/// unless a server numbered them) hand out different ids: an id used on the
/// wrong reactor then names nothing there, instead of that reactor's own
/// connection or timer in the same slot. Never zero.
pub(crate) fn generation_seed() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9)
        .max(1)
}

/// A slab key with its generation and reactor index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key(u64);

impl Key {
    pub(crate) fn new(slot: usize, reactor: u8, generation: u32) -> Key {
        debug_assert!(slot < MAX_SLOTS);
        Key(slot as u64 | (reactor as u64) << REACTOR_SHIFT | (generation as u64) << GEN_SHIFT)
    }

    pub(crate) fn from_token(token: Token) -> Key {
        Key(token.0 as u64)
    }

    pub(crate) fn token(self) -> Token {
        Token(self.0 as usize)
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 & MAX_SLOTS as u64) as usize
    }

    pub(crate) fn reactor(self) -> u8 {
        (self.0 >> REACTOR_SHIFT) as u8
    }
}

/// Names one connection for its whole life, across threads.
///
/// Ids are never reused while the reactor runs (up to 2^32 connections per
/// slot), so an id kept after the connection closed is simply stale:
/// operations on it return [`Error::NoSuchConn`](crate::Error::NoSuchConn).
/// An id carries the index of the reactor that owns it
/// ([`ConnId::reactor`]), so a [`ServerHandle`](crate::ServerHandle) can route
/// it to the right thread.
///
/// ```
/// # use netloop::{Reactor, ConnectOptions};
/// let mut reactor = Reactor::new().unwrap();
/// let id = reactor.connect("127.0.0.1:9".parse().unwrap(), ConnectOptions::default(),
///                          netloop::handler::Discard).unwrap();
/// assert_eq!(id.reactor(), 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) Key);

/// Names one listener of a reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(crate) Key);

impl ConnId {
    /// The index of the reactor that owns this connection (0 for a lone reactor).
    pub fn reactor(self) -> usize {
        self.0.reactor() as usize
    }

    /// The raw 64-bit value, e.g. for logging or for a map key in user code.
    pub fn as_u64(self) -> u64 {
        self.0.0
    }
}

impl ListenerId {
    /// The index of the reactor that owns this listener.
    pub fn reactor(self) -> usize {
        self.0.reactor() as usize
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}#{}",
            self.reactor(),
            self.slot(),
            self.0 >> GEN_SHIFT
        )
    }
}

impl std::fmt::Debug for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnId({:?})", self.0)
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn {:?}", self.0)
    }
}

impl std::fmt::Debug for ListenerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListenerId({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_a_token() {
        let key = Key::new(12345, 7, 0xdead_beef);
        let back = Key::from_token(key.token());
        assert_eq!(back, key);
        assert_eq!(back.slot(), 12345);
        assert_eq!(back.reactor(), 7);
    }

    #[test]
    fn a_reused_slot_gets_a_different_key() {
        assert_ne!(Key::new(3, 0, 1), Key::new(3, 0, 2));
        assert_eq!(Key::new(3, 0, 1).slot(), Key::new(3, 0, 2).slot());
    }

    #[test]
    fn each_reactor_counts_generations_from_elsewhere() {
        let seeds: Vec<u32> = (0..64).map(|_| generation_seed()).collect();
        for (i, a) in seeds.iter().enumerate() {
            assert_ne!(*a, 0);
            for b in &seeds[i + 1..] {
                // Far apart: the two sequences do not meet for millions of ids.
                assert!(a.abs_diff(*b) > 1 << 20, "{a:#x} and {b:#x} are close");
            }
        }
    }

    #[test]
    fn the_waker_token_is_never_a_slot() {
        assert_eq!(Key::from_token(WAKER_TOKEN).slot(), MAX_SLOTS);
    }
}

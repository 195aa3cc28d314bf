//! The per-connection send queue: bytes the kernel would not take yet.
//!
//! ```text
//!  front (oldest)                                             back (newest)
//! +------------------+----------------+---------------------------------+
//! | Shared(Bytes)    | Shared(Bytes)  | Owned(BytesMut) ..... spare    |
//! | ^ partly sent:   |  (queued by    |  (copies of &[u8] sends are     |
//! |   advanced in    |   send_bytes,  |   appended here while it has    |
//! |   place          |   no copy)     |   room, so small sends coalesce)|
//! +------------------+----------------+---------------------------------+
//! ```
//!
//! Invariants: `len` is the sum of the chunk lengths; no chunk is empty; when
//! `len` reaches zero the deque is replaced by an empty one, so a drained
//! connection holds no queue memory.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Copies of `&[u8]` sends go into owned chunks of at least this capacity.
const OWNED_CHUNK: usize = 8 * 1024;
/// `Bytes` up to this size are copied into the owned tail instead of being
/// queued as their own chunk, to keep the iovec count low.
const SMALL_BYTES: usize = 512;
/// The most iovecs handed to one `sendmsg`.
pub(crate) const MAX_IOVECS: usize = 64;

enum Chunk {
    Shared(Bytes),
    Owned(BytesMut),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Owned(b) => b,
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Chunk::Shared(b) => b.advance(n),
            Chunk::Owned(b) => b.advance(n),
        }
    }
}

/// Bytes queued for sending, in order.
#[derive(Default)]
pub struct SendBuf {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl SendBuf {
    /// An empty queue; allocates nothing.
    pub fn new() -> SendBuf {
        SendBuf::default()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a copy of `data`, appending to the owned tail chunk if it has room.
    pub fn push_slice(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if let Some(Chunk::Owned(tail)) = self.chunks.back_mut() {
            if tail.capacity() - tail.len() >= data.len() {
                tail.extend_from_slice(data);
                return;
            }
        }
        let mut chunk = BytesMut::with_capacity(data.len().max(OWNED_CHUNK));
        chunk.extend_from_slice(data);
        self.chunks.push_back(Chunk::Owned(chunk));
    }

    /// Queues `data` without copying it (small ones are coalesced by copy).
    pub fn push_bytes(&mut self, data: Bytes) {
        if data.len() <= SMALL_BYTES {
            if let Some(Chunk::Owned(tail)) = self.chunks.back() {
                if tail.capacity() - tail.len() >= data.len() {
                    return self.push_slice(&data);
                }
            }
            if data.is_empty() {
                return;
            }
        }
        self.len += data.len();
        self.chunks.push_back(Chunk::Shared(data));
    }

    /// Fills `out` with the queued chunks, oldest first; returns how many.
    pub fn io_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in out.iter_mut().zip(self.chunks.iter()) {
            *slot = IoSlice::new(chunk.bytes());
            n += 1;
        }
        n
    }

    /// Drops the first `n` queued bytes (they were sent).
    ///
    /// # Panics
    ///
    /// If `n` is more than [`len`](Self::len): that would be a bookkeeping
    /// bug in the caller, never a consequence of peer input.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the send queue");
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front_mut().expect("len says bytes remain");
            let available = front.bytes().len();
            if n < available {
                front.advance(n);
                return;
            }
            n -= available;
            self.chunks.pop_front();
        }
        if self.len == 0 {
            self.chunks = VecDeque::new();
        }
    }

    /// Drops everything queued and releases the memory.
    pub fn clear(&mut self) {
        *self = SendBuf::new();
    }

    /// Memory held by the queue's chunk list (for tests of the idle footprint).
    pub fn holds_memory(&self) -> bool {
        self.chunks.capacity() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(buf: &SendBuf) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = buf.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn keeps_order_across_slices_and_bytes() {
        let mut buf = SendBuf::new();
        buf.push_slice(b"ab");
        buf.push_bytes(Bytes::from(vec![b'c'; 1000]));
        buf.push_slice(b"de");
        buf.push_bytes(Bytes::from_static(b"f"));
        let mut expected = b"ab".to_vec();
        expected.extend(vec![b'c'; 1000]);
        expected.extend(b"def");
        assert_eq!(buf.len(), expected.len());
        assert_eq!(gathered(&buf), expected);
    }

    #[test]
    fn small_sends_coalesce_into_one_chunk() {
        let mut buf = SendBuf::new();
        for _ in 0..100 {
            buf.push_slice(b"0123456789");
            buf.push_bytes(Bytes::from_static(b"x"));
        }
        assert_eq!(buf.chunks.len(), 1);
        assert_eq!(buf.len(), 1100);
    }

    #[test]
    fn partial_advance_then_drain_frees_memory() {
        let mut buf = SendBuf::new();
        buf.push_slice(b"hello");
        buf.push_bytes(Bytes::from(vec![1u8; 600]));
        buf.advance(3);
        assert_eq!(&gathered(&buf)[..2], b"lo");
        buf.advance(2 + 100);
        assert_eq!(buf.len(), 500);
        buf.advance(500);
        assert!(buf.is_empty());
        assert!(!buf.holds_memory());
    }

    #[test]
    fn empty_pushes_are_ignored() {
        let mut buf = SendBuf::new();
        buf.push_slice(b"");
        buf.push_bytes(Bytes::new());
        assert!(buf.is_empty());
        assert!(!buf.holds_memory());
    }
}

//! Operation sequences on the send queue (`netloop::internals::SendBuf`),
//! checked against a plain byte queue. Shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/send_buf.rs`) and the stable harness that runs in CI
//! (`tests/fuzz_send_buf.rs`): both turn arbitrary bytes into operations
//! with [`decode`] and run them with [`run`], which panics on the first
//! divergence.
//!
//! Checked after every operation: the length; the shape of the gathered
//! iovecs (none empty, at most the count asked, each starting where the
//! model says); that an empty queue holds no memory. Every byte is compared
//! with the model as a write takes it out, and at the end everything left
//! is written out and compared.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;
use netloop::internals::SendBuf;

/// Iovecs per gather, as the reactor's flush uses.
const MAX_IOVECS: usize = 64;
/// Largest single push (keeps runs fast while crossing every chunk size).
const MAX_PUSH: usize = 10_000;

/// One operation on the queue.
#[derive(Clone, Debug)]
pub enum Op {
    /// `push_slice` of this many bytes.
    PushSlice(usize),
    /// `push_bytes` of a fresh `Bytes` of this many bytes.
    PushBytes(usize),
    /// `push_bytes` of a `Bytes` sliced out of a larger one (an offset view).
    PushSliced {
        /// Bytes pushed.
        len: usize,
        /// Bytes before them in the `Bytes` they are sliced out of.
        cut: usize,
    },
    /// `advance` by this share (in 1/65535ths) of the queued length.
    Advance(u16),
    /// A partial write: gather up to `iovecs` slices, the "kernel" takes
    /// this share (in 1/65535ths) of what they offer, then `advance`.
    Write {
        /// Most slices gathered (1 to 64).
        iovecs: usize,
        /// The share of what they offer that is written.
        share: u16,
    },
    /// `clear`.
    Clear,
}

/// Reads operations from bytes: a tag byte, then its parameters. Any input
/// decodes (a short tail is padded with zeros).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut ops = Vec::new();
    while let Some(tag) = next() {
        let mut u16_ = || u16::from_le_bytes([next().unwrap_or(0), next().unwrap_or(0)]);
        let size = |v: u16| v as usize % (MAX_PUSH + 1);
        let op = match tag % 8 {
            0 | 1 => Op::PushSlice(size(u16_())),
            2 => Op::PushBytes(size(u16_())),
            3 => Op::PushSliced {
                len: size(u16_()),
                cut: u16_() as usize % 4096,
            },
            4 | 5 => Op::Advance(u16_()),
            6 => Op::Write {
                iovecs: 1 + (u16_() as usize % MAX_IOVECS),
                share: u16_(),
            },
            _ => Op::Clear,
        };
        ops.push(op);
    }
    ops
}

/// Byte `i` of the stream pushed into the queue.
fn stream(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// `share` 65535ths of `n`: every value from 0 to `n` is reachable.
fn portion(n: usize, share: u16) -> usize {
    (n as u64 * share as u64 / u16::MAX as u64) as usize
}

struct Harness {
    buf: SendBuf,
    model: VecDeque<u8>,
    /// Stream position of the next byte pushed.
    next: usize,
}

impl Harness {
    fn fresh(&mut self, len: usize) -> Vec<u8> {
        let data: Vec<u8> = (self.next..self.next + len).map(stream).collect();
        self.next += len;
        self.model.extend(&data);
        data
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::PushSlice(len) => {
                let data = self.fresh(len);
                self.buf.push_slice(&data);
            }
            Op::PushBytes(len) => {
                let data = self.fresh(len);
                self.buf.push_bytes(Bytes::from(data));
            }
            Op::PushSliced { len, cut } => {
                let mut whole = vec![0xeeu8; cut];
                whole.extend(self.fresh(len));
                self.buf.push_bytes(Bytes::from(whole).slice(cut..));
            }
            Op::Advance(share) => {
                let n = portion(self.model.len(), share);
                self.buf.advance(n);
                self.model.drain(..n);
            }
            Op::Write { iovecs, share } => self.write(iovecs, share),
            Op::Clear => {
                self.buf.clear();
                self.model.clear();
            }
        }
    }

    /// Gathers up to `iovecs` slices and checks their shape against the
    /// model: none empty, each starting where the model says, bytes exactly
    /// when the model has some. With `full`, the first `full` bytes are
    /// compared one by one. Returns how many bytes the slices hold.
    fn check_gather(&self, iovecs: usize, full: Option<usize>) -> usize {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let count = self.buf.io_slices(&mut slices[..iovecs]);
        assert!(count <= iovecs);
        let mut offset = 0;
        for s in &slices[..count] {
            assert!(!s.is_empty(), "an empty iovec");
            assert_eq!(Some(&s[0]), self.model.get(offset), "byte {offset} differs");
            offset += s.len();
        }
        assert!(offset <= self.model.len(), "iovecs hold more than queued");
        assert_eq!(count == 0, self.model.is_empty(), "iovecs vs emptiness");
        if let Some(n) = full {
            let gathered = slices[..count].iter().flat_map(|s| s.iter());
            assert!(
                gathered.take(n).eq(self.model.iter().take(n)),
                "queued bytes differ from those pushed"
            );
        }
        offset
    }

    /// A write of `share` of what `iovecs` slices offer, its bytes checked
    /// (each byte is compared once, as it leaves the queue).
    fn write(&mut self, iovecs: usize, share: u16) {
        let offered = self.check_gather(iovecs, None);
        let n = portion(offered, share);
        self.check_gather(iovecs, Some(n));
        self.buf.advance(n);
        self.model.drain(..n);
    }

    fn check(&self) {
        assert_eq!(self.buf.len(), self.model.len());
        assert_eq!(self.buf.is_empty(), self.model.is_empty());
        if self.model.is_empty() {
            assert!(!self.buf.holds_memory(), "an empty queue holds memory");
        }
        self.check_gather(MAX_IOVECS, None);
    }
}

/// Runs `ops` on a fresh queue and its model; panics on any divergence.
pub fn run(ops: &[Op]) {
    let mut h = Harness {
        buf: SendBuf::new(),
        model: VecDeque::new(),
        next: 0,
    };
    h.check();
    for op in ops {
        h.apply(op);
        h.check();
    }
    // Writing everything out checks every byte still queued, and leaves
    // nothing behind.
    while !h.model.is_empty() {
        h.write(MAX_IOVECS, u16::MAX);
    }
    h.check();
}

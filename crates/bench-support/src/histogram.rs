//! A log-linear latency histogram: 32 buckets per power of two (at most 3%
//! error), fixed size, no allocation per sample.

use std::time::Duration;

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every `u64` nanosecond value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) << SUB_BITS) + 2 * SUB as usize;

/// Latency samples, in buckets (see the module docs).
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

/// Values below `2 * SUB` have a bucket each; above, a bucket spans
/// `1 << shift` values, where `shift` makes the value's top bits fall in
/// `SUB..2 * SUB`.
fn bucket(ns: u64) -> usize {
    if ns < 2 * SUB {
        return ns as usize;
    }
    let shift = 63 - ns.leading_zeros() - SUB_BITS;
    ((shift as u64) * SUB + (ns >> shift)) as usize
}

/// The smallest value of a bucket.
fn bucket_floor(b: usize) -> u64 {
    let b = b as u64;
    if b < 2 * SUB {
        return b;
    }
    let shift = b / SUB - 1;
    (b - shift * SUB) << shift
}

impl Histogram {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.record_n(d, 1);
    }

    /// Records `n` samples of the same value.
    pub fn record_n(&mut self, d: Duration, n: u64) {
        self.add(d.as_nanos().min(u64::MAX as u128) as u64, n);
    }

    /// Records one sample of `ns` nanoseconds.
    pub fn record_nanos(&mut self, ns: u64) {
        self.add(ns, 1);
    }

    fn add(&mut self, ns: u64, n: u64) {
        self.counts[bucket(ns)] += n;
        self.total += n;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
    }

    /// The value at quantile `q` (0.0..=1.0), as the floor of its bucket.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(bucket_floor(b));
            }
        }
        Duration::from_nanos(u64::MAX)
    }
}

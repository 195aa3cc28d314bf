//! What the process uses, read from /proc: open descriptors, resident
//! memory, and the CPU time of one thread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

/// Open file descriptors of this process (entries of /proc/self/fd, minus
/// the one the listing itself uses).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        .saturating_sub(1)
}

/// Resident set size of this process, in bytes (VmRSS in /proc/self/status).
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// The id of the calling thread (from the /proc/thread-self link, which
/// reads as "PID/task/TID"; no descriptor is needed).
pub fn current_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("thread id")
}

/// CPU time of one thread, sampled from an already open
/// /proc/self/task/TID/stat, so that sampling needs no new descriptor (the
/// EMFILE test samples while descriptors are exhausted).
pub struct ThreadCpu {
    stat: File,
    buf: String,
}

/// Clock ticks per second of /proc times (`USER_HZ`, fixed by the ABI).
const USER_HZ: u64 = 100;

impl ThreadCpu {
    pub fn open(tid: u32) -> ThreadCpu {
        let path = format!("/proc/self/task/{tid}/stat");
        ThreadCpu {
            stat: File::open(&path).expect("thread stat"),
            buf: String::new(),
        }
    }

    /// User plus system time the thread has used so far.
    pub fn used(&mut self) -> Duration {
        self.buf.clear();
        self.stat.seek(SeekFrom::Start(0)).expect("seek stat");
        self.stat.read_to_string(&mut self.buf).expect("read stat");
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the line, so 12 and 13 after the name.
        let after_name = &self.buf[self.buf.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 1000 / USER_HZ)
    }

    /// The share of one core the thread used while `f` ran.
    pub fn share_during(&mut self, f: impl FnOnce()) -> f64 {
        let cpu0 = self.used();
        let t0 = Instant::now();
        f();
        let wall = t0.elapsed();
        (self.used() - cpu0).as_secs_f64() / wall.as_secs_f64()
    }
}

//! Readers of `/proc`: a process's CPU time and resident memory.

use std::fs;
use std::io;

/// CPU time used by all threads of `pid`, in ns (`/proc/PID/task/*/schedstat`,
/// nanosecond resolution, unlike the clock ticks of `/proc/PID/stat`).
pub fn cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        if let Ok(text) = fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// A field of `/proc/self/smaps_rollup` in bytes (e.g. `Rss`, `Anonymous`).
/// Exact: the kernel walks the page tables (the `/proc/self/status`
/// counters are updated lazily and can be off by hundreds of KiB).
pub fn self_smaps_bytes(field: &str) -> io::Result<u64> {
    let text = fs::read_to_string("/proc/self/smaps_rollup")?;
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/self/smaps_rollup")))
}

//! External tools a test drives (curl, nc): whether they are installed,
//! and skipping (or, under CI, failing) when they are not.

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Skips (prints why), or fails under CI where the tool must be there.
pub fn skip_or_fail(why: &str) {
    if std::env::var_os("NETLOOP_REQUIRE_NETNS").is_some() || std::env::var_os("CI").is_some() {
        panic!("{why}: CI must install it (.ci/run)");
    }
    eprintln!("skipped: {why}");
}

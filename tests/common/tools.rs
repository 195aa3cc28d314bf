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

/// An example's binary, next to this test's own directory. Built (or found
/// up to date) by `cargo build --example`, once per test process: `cargo
/// test` builds the examples only when every target is selected, and a
/// stale binary would test old code. With the features this test was
/// built with (so that the library is not rebuilt between them).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap();
    let map = built.get_or_insert_with(HashMap::new);
    if let Some(path) = map.get(name) {
        return path.clone();
    }
    let deps = std::env::current_exe().expect("test binary path");
    let profile_dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile directory");
    let binary = profile_dir.join("examples").join(name);
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "--example", name]);
    if cfg!(feature = "tls") {
        build.args(["--features", "tls"]);
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    map.insert(name.to_string(), binary.clone());
    binary
}

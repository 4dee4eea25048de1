//! The clients some cases read with, clients this project did not write: Python's `httpx-sse`
//! and `openai` from the virtualenv `scripts/test.sh` makes with the pins in
//! `clients/requirements.txt`, and the `openai` package for JavaScript, on Node, which it
//! installs with `npm ci` from `clients/package-lock.json`.

use std::time::Duration;

use tokio::process::Command;

/// The Python the clients' virtualenv holds: `$SSE_PYTHON` (set by `scripts/test.sh`), or the
/// virtualenv's usual place.
pub fn python() -> String {
    std::env::var("SSE_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/python-clients/bin/python"
        )
        .into()
    })
}

/// The `node_modules` the JavaScript clients are in: `$SSE_NODE_MODULES` (set by
/// `scripts/test.sh`), or their usual place.
pub fn node_modules() -> String {
    std::env::var("SSE_NODE_MODULES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/node-clients/node_modules"
        )
        .into()
    })
}

/// Runs `clients/{script}` with the virtualenv's Python, for at most 20 s: its exit status and
/// its lines, failing the test on a traceback.
pub async fn python_script(fw: &str, script: &str, args: &[&str]) -> (i32, Vec<String>) {
    run(fw, Command::new(python()), script, args).await
}

/// Runs `clients/{script}` with Node, its packages from [`node_modules`], a self-signed
/// certificate accepted (the servers' over HTTPS), as [`python_script`] runs Python.
pub async fn node_script(fw: &str, script: &str, args: &[&str]) -> (i32, Vec<String>) {
    let modules = node_modules();
    assert!(
        std::path::Path::new(&modules).join("openai").is_dir(),
        "[{fw}] no openai package in {modules}: scripts/test.sh installs it (npm ci)"
    );
    let mut node = Command::new("node");
    node.env("NODE_PATH", modules)
        .env("NODE_TLS_REJECT_UNAUTHORIZED", "0")
        .env("NODE_NO_WARNINGS", "1");
    run(fw, node, script, args).await
}

/// Runs `program` on `clients/{script}` with `args`, for at most 20 s; fails the test on a
/// traceback on stderr. Returns its exit status and its lines.
async fn run(fw: &str, mut program: Command, script: &str, args: &[&str]) -> (i32, Vec<String>) {
    let script = format!("{}/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let run = program.arg(&script).args(args).kill_on_drop(true).output();
    let output = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap_or_else(|_| panic!("[{fw}] {script} did not finish within 20 s"))
        .unwrap_or_else(|e| {
            panic!("[{fw}] cannot run {script} ({e}): scripts/test.sh installs its clients")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("Traceback"),
        "[{fw}] {script} failed: {stderr}"
    );
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (output.status.code().unwrap_or(-1), lines)
}

//! The Python clients some cases read with, clients this project did not write (`httpx-sse`,
//! the official `openai` package), run from the virtualenv `scripts/test.sh` makes with the
//! pins in `clients/requirements.txt`.

use std::time::Duration;

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

/// Runs `clients/{script}` with `args`, for at most 20 s; fails the test on a Python traceback.
/// Returns its exit status and its lines.
pub async fn run(fw: &str, script: &str, args: &[&str]) -> (i32, Vec<String>) {
    let script = format!("{}/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new(python())
        .arg(&script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap_or_else(|_| panic!("[{fw}] {script} did not finish within 20 s"))
        .unwrap_or_else(|e| {
            panic!(
                "[{fw}] cannot run {} ({e}): scripts/test.sh makes its virtualenv",
                python()
            )
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

//! `sse-bench storm` end to end, as `scripts/compare.sh` runs it: the tool starts a server,
//! holds subscribers on it, stops it with SIGTERM, starts it again on the same port, and every
//! subscriber comes back after `retry`. The server here is `sse-bench floor`, which ignores
//! `Last-Event-ID` and counts its ids from 1 again after a restart: the storm must see every
//! subscriber back, and must report the ids it got twice.

use std::process::Command;

#[test]
fn a_restarted_server_s_subscribers_come_back_and_repeated_ids_are_reported() {
    let bench = env!("CARGO_BIN_EXE_sse-bench");
    let output = Command::new(bench)
        .args(["storm", "--clients", "50", "--", bench, "floor"])
        .output()
        .expect("sse-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");

    assert_eq!(result["workload"], "storm", "{result}");
    assert_eq!(result["server"], "floor", "{result}");
    assert_eq!(result["connected"], 50, "{result}");
    assert_eq!(result["not_back"], 0, "{result}");
    assert_eq!(result["failed_connects"], 0, "{result}");
    // The floor sends `retry: 3000` to every stream: no one is back before that.
    assert_eq!(
        result["retry_ms"],
        serde_json::json!([3000, 3000]),
        "{result}"
    );
    let all_back = result["all_back_ms"].as_f64().expect("everyone back");
    assert!((3000.0..15_000.0).contains(&all_back), "{result}");
    // Ids start again at 1 after the restart: each subscriber saw at least three ids (it held
    // its stream three seconds), and after the restart it got ids it had already seen, none skipped.
    assert!(result["ids_repeated"].as_u64() >= Some(50 * 2), "{result}");
    assert_eq!(result["ids_missed"], 0, "{result}");
}

//! What `cargo install --path crates/sse-cli` gives a user besides the commands: `--version`,
//! and completion scripts from clap's generator that know every command. The real binary.
//!
//! `cargo test -p sse-cli --test install`

use std::process::Command;

fn sse(args: &[&str]) -> (String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(args)
        .output()
        .expect("sse runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (text, output.status.code().unwrap_or(-1))
}

#[test]
fn version_is_the_crate_s() {
    let (text, code) = sse(&["--version"]);
    assert_eq!(text.trim(), format!("sse {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(code, 0);
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let (script, code) = sse(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for command in ["watch", "doctor", "token", "completions", "last-event-id"] {
            assert!(
                script.contains(command),
                "{shell}: no {command} in\n{script}"
            );
        }
    }
    let (_, code) = sse(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a mistake on the command line");
}

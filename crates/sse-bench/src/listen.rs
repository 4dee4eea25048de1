//! `sse-bench listen URL`: a client for watching a stream by hand, doing what a browser's
//! `EventSource` does, out loud: it prints each event with its arrival time, reconnects with
//! `Last-Event-ID` after the `retry` delay the server asked for, and stops on 204.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::Duration;

use chrono::Local;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::StatusCode;

use crate::client::{self, Error, Target};

/// Runs until the server answers 204 or another status than 200, or until Ctrl-C.
pub async fn run(url: &str, raw: bool, mut last_event_id: Option<String>) -> Result<(), Error> {
    let target = Target::parse(url)?;
    // Until the server says otherwise; browsers wait a few seconds too.
    let mut retry = Duration::from_secs(3);
    loop {
        let resuming = last_event_id
            .as_deref()
            .map_or(String::new(), |id| format!(" with Last-Event-ID: {id}"));
        say(&format!("GET {url}{resuming}"));
        match client::get(&target, last_event_id.as_deref()).await {
            Err(e) => say(&format!("connection failed: {e}")),
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                say("204 No Content: nothing left to send; a browser stops here, and so do we");
                return Ok(());
            }
            Ok(response) if response.status() != StatusCode::OK => {
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                say(&format!("{status}: {}", String::from_utf8_lossy(&body)));
                say("a browser gives up for good on any status but 200 and 204; so do we");
                return Err(format!("the server answered {status}").into());
            }
            Ok(response) => {
                say("200 OK, reading events");
                let sniffer = RefCell::new(RetrySniffer::default());
                let chunks = response.into_body().into_data_stream().inspect(|chunk| {
                    if let Ok(bytes) = chunk {
                        if raw {
                            say(&format!("{:?}", String::from_utf8_lossy(bytes)));
                        }
                        sniffer.borrow_mut().feed(bytes);
                    }
                });
                let mut events = std::pin::pin!(chunks.eventsource());
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            if !event.id.is_empty() {
                                last_event_id = Some(event.id.clone());
                            }
                            if !raw {
                                say(&format!(
                                    "id={:?} event={:?} data={:?}",
                                    event.id, event.event, event.data
                                ));
                            }
                        }
                        Err(e) => {
                            say(&format!("stream error: {e}"));
                            break;
                        }
                    }
                }
                if let Some(ms) = sniffer.borrow().retry_ms {
                    retry = Duration::from_millis(ms);
                }
                say("the stream ended");
            }
        }
        say(&format!("reconnecting in {} ms (retry)", retry.as_millis()));
        tokio::time::sleep(retry).await;
    }
}

/// Prints a line with the local time it happened; stops quietly when stdout is closed
/// (`sse-bench listen URL | head`).
fn say(text: &str) {
    let time = Local::now().format("%H:%M:%S%.3f");
    if writeln!(std::io::stdout().lock(), "{time} {text}").is_err() {
        std::process::exit(0);
    }
}

/// Finds `retry:` fields in the raw bytes. `eventsource-stream` reports `retry` only on events
/// that carry data, and our servers send it alone, first, as the WHATWG parser allows.
#[derive(Default)]
struct RetrySniffer {
    line: Vec<u8>,
    retry_ms: Option<u64>,
}

impl RetrySniffer {
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' || byte == b'\r' {
                let line = std::mem::take(&mut self.line);
                let value = line.strip_prefix(b"retry:").map(|v| v.trim_ascii());
                if let Some(ms) = value.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()) {
                    self.retry_ms = Some(ms);
                }
            } else {
                self.line.push(byte);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_is_found_across_chunks_and_line_endings() {
        let mut sniffer = RetrySniffer::default();
        sniffer.feed(b"retry: 12");
        assert_eq!(sniffer.retry_ms, None);
        sniffer.feed(b"34\r\n\r\nid: 1\ndata: retry: 99\n\n");
        assert_eq!(sniffer.retry_ms, Some(1234));
    }
}

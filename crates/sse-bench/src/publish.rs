//! The publisher of `fanout` and `rooms`: posts a chat message at a steady rate on one
//! kept-alive connection, each message's text the time it was posted (µs since 1970), and
//! times each `POST` from sending to its answer: a server busy delivering should not make the
//! sender wait.

use std::time::Duration;

use indicatif::ProgressBar;
use tokio::time::{Instant, MissedTickBehavior, interval};

use crate::client::{self, Error, Target};

/// What one publisher did.
#[derive(Debug, Default)]
pub struct Posted {
    /// Messages the server accepted (any 2xx: our servers answer 201, nchan 201 or 202).
    pub published: u64,
    /// Posts refused or failed.
    pub errors: u64,
    /// From sending each accepted post to its answer, in µs.
    pub latencies: Vec<u64>,
}

/// Posts `rate` messages a second to `chat` for `secs` seconds, ticking `bar` for each.
pub async fn paced(
    chat: &Target,
    rate: u64,
    secs: u64,
    bar: Option<&ProgressBar>,
) -> Result<Posted, Error> {
    let mut sender = client::connect(chat).await?;
    let mut ticks = interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    // A late tick is not made up with a burst: the rate stays what was asked for, or less.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut posted = Posted {
        latencies: Vec::with_capacity((rate * secs) as usize),
        ..Posted::default()
    };
    for _ in 0..rate * secs {
        ticks.tick().await;
        let body =
            serde_json::json!({ "user": "bench", "text": client::unix_micros().to_string() });
        let sent = Instant::now();
        match client::post_json(&sender, chat, body.to_string()).await {
            Ok((status, _)) if status.is_success() => {
                posted.published += 1;
                posted.latencies.push(sent.elapsed().as_micros() as u64);
            }
            Ok(_) => posted.errors += 1,
            Err(_) => {
                posted.errors += 1;
                sender = client::connect(chat).await?;
            }
        }
        if let Some(bar) = bar {
            bar.inc(1);
        }
    }
    Ok(posted)
}

//! One timer per interval, shared by every paced stream (clock, paragraph, counter) of that
//! interval.
//!
//! With a timer of its own, each of 10,000 clocks at one event a second wakes the server at its
//! own moment: 10,000 scattered wake-ups a second. With one shared beat, the server wakes once a
//! second and every stream writes its event in the same burst. `scripts/compare.sh` measured the
//! difference: see the book's chapter "Measured" (`docs/src/measured.md`).
//!
//! A stream still sends its first event at once, then one per beat. The beat's phase is shared,
//! so the second event can come sooner than a whole interval after the first; a beat less than
//! half an interval after the stream's previous event is skipped. The gap between two events
//! is therefore always between half an interval and one and a half, and one interval from the
//! second event on. A stream that is not polled for a while (its client reads slowly) sends one
//! event when it is polled again, never a burst to catch up.
//!
//! Tested with paused time by `cargo test -p sse-core metronome`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{Stream, stream};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

/// The shared beats of one server, one per interval in use.
#[derive(Default)]
pub struct Metronome {
    /// Each beat's sender: a stream subscribes to it. The beat's task holds another sender and
    /// stops, removing its entry, when no stream is left (see [`beat`]).
    beats: Mutex<HashMap<Duration, watch::Sender<Instant>>>,
}

impl Metronome {
    /// A metronome with no beats yet: each starts when a stream first asks for its interval.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Yields at once, then on each beat of `every` (see the module's documentation for the
    /// skipping rule). Must be called inside a tokio runtime: the first stream of an interval
    /// starts its beat's task.
    pub fn ticks(
        self: &Arc<Self>,
        every: Duration,
    ) -> impl Stream<Item = ()> + Send + Sync + 'static + use<> {
        let beats = self.subscribe(every);
        // `None` until the first event is sent, then the time of the last event sent.
        stream::unfold((beats, None), move |(mut beats, last)| async move {
            let Some(last) = last else {
                return Some(((), (beats, Some(Instant::now()))));
            };
            loop {
                // The beat's task outlives its subscribers, so this only fails on a dropped runtime.
                beats.changed().await.ok()?;
                let at = *beats.borrow_and_update();
                if at.saturating_duration_since(last) >= every / 2 {
                    return Some(((), (beats, Some(at))));
                }
            }
        })
    }

    /// A receiver of the beat of `every`, starting its task if no stream uses that interval.
    fn subscribe(self: &Arc<Self>, every: Duration) -> watch::Receiver<Instant> {
        let mut beats = self.lock();
        if let Some(beat) = beats.get(&every) {
            return beat.subscribe();
        }
        let (sender, receiver) = watch::channel(Instant::now());
        beats.insert(every, sender.clone());
        tokio::spawn(beat(self.clone(), every, sender));
        receiver
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Duration, watch::Sender<Instant>>> {
        // The map is always whole: no code that can panic runs while it is locked.
        self.beats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many beats are running.
    #[cfg(test)]
    fn running(&self) -> usize {
        self.lock().len()
    }
}

/// The task behind one beat: sends the time of each tick until no stream listens any more.
async fn beat(metronome: Arc<Metronome>, every: Duration, sender: watch::Sender<Instant>) {
    let mut ticks = interval_at(Instant::now() + every, every);
    // A late tick (a busy server) is not made up with a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            at = ticks.tick() => {
                sender.send_replace(at);
            }
            () = sender.closed() => {
                // Checked again under the lock: a stream may have subscribed in between.
                let mut beats = metronome.lock();
                if sender.receiver_count() == 0 {
                    beats.remove(&every);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::pin::pin;
    use tokio::time::sleep;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The paused-clock times (since `start`) at which `stream` yields its first `count` items.
    async fn times(stream: impl Stream<Item = ()>, start: Instant, count: usize) -> Vec<Duration> {
        let mut stream = pin!(stream);
        let mut out = Vec::new();
        while out.len() < count && stream.next().await.is_some() {
            out.push(start.elapsed());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_stream_ticks_at_once_then_once_per_interval() {
        let metronome = Metronome::new();
        let start = Instant::now();
        let ticks = times(metronome.ticks(ms(1000)), start, 4).await;
        assert_eq!(ticks, [ms(0), ms(1000), ms(2000), ms(3000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_stream_joins_the_shared_beat() {
        let metronome = Metronome::new();
        let start = Instant::now();
        let _first = metronome.ticks(ms(1000));
        sleep(ms(300)).await;
        // 700 ms to the next beat: more than half an interval, so it is not skipped.
        let ticks = times(metronome.ticks(ms(1000)), start, 3).await;
        assert_eq!(ticks, [ms(300), ms(1000), ms(2000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_beat_too_soon_after_the_first_event_is_skipped() {
        let metronome = Metronome::new();
        let start = Instant::now();
        let _beat_started = metronome.subscribe(ms(1000));
        sleep(ms(800)).await;
        // The beat at 1000 ms would come 200 ms after the first event: skipped.
        let ticks = times(metronome.ticks(ms(1000)), start, 3).await;
        assert_eq!(ticks, [ms(800), ms(2000), ms(3000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn streams_of_different_intervals_have_their_own_beats() {
        let metronome = Metronome::new();
        let start = Instant::now();
        let (fast, slow) = tokio::join!(
            times(metronome.ticks(ms(100)), start, 3),
            times(metronome.ticks(ms(250)), start, 3),
        );
        assert_eq!(fast, [ms(0), ms(100), ms(200)]);
        assert_eq!(slow, [ms(0), ms(250), ms(500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_gets_one_event_not_a_burst() {
        let metronome = Metronome::new();
        let start = Instant::now();
        let mut ticks = pin!(metronome.ticks(ms(100)));
        ticks.next().await;
        sleep(ms(1050)).await;
        ticks.next().await;
        assert_eq!(
            start.elapsed(),
            ms(1050),
            "a beat was missed: one event at once"
        );
        ticks.next().await;
        assert_eq!(start.elapsed(), ms(1100), "then the next beat");
    }

    #[tokio::test(start_paused = true)]
    async fn the_beat_stops_when_its_last_stream_is_dropped() {
        let metronome = Metronome::new();
        let one = metronome.ticks(ms(100));
        let two = metronome.ticks(ms(100));
        // The streams subscribe when created; the beat's task runs once the test yields.
        sleep(ms(250)).await;
        assert_eq!(metronome.running(), 1);
        drop(one);
        sleep(ms(250)).await;
        assert_eq!(metronome.running(), 1, "one stream still listens");
        drop(two);
        sleep(ms(1)).await;
        assert_eq!(metronome.running(), 0, "the task removed its beat");
        // A new stream starts a new beat.
        let _three = metronome.ticks(ms(100));
        assert_eq!(metronome.running(), 1);
    }
}

//! Answers kept for a client that drops its connection: asked for with
//! `"stream_options": {"resumable": true}`, each is generated to its end whether anyone reads it
//! or not, its events kept, and read again from any point by `GET /v1/streams/{id}` with
//! `Last-Event-ID`, until `--resume-secs` after it finished. `DELETE` cancels one.
//!
//! What this holds is bounded: at most `--max-kept-answers` answers in all and
//! `--max-kept-answers-per-client` per client address, each as long as the stand-in's answer
//! (under 100 events of a few hundred bytes; see the book's chapter on streamed answers).
//!
//! Tested with paused time by `cargo test -p sse-core kept_answers`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, stream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::ClientKey;

/// The limits of what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptLimits {
    /// `--max-kept-answers`.
    pub max: usize,
    /// `--max-kept-answers-per-client`.
    pub per_client: usize,
    /// `--resume-secs`: how long a finished answer stays.
    pub keep_for: Duration,
}

/// Why an answer cannot be kept: which limit it met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `--max-kept-answers` answers are kept already.
    Everyone(usize),
    /// This client has `--max-kept-answers-per-client` kept already.
    Client(usize),
}

/// Every kept answer of one server, by id.
#[derive(Debug)]
pub struct KeptAnswers {
    limits: KeptLimits,
    answers: Mutex<HashMap<String, Arc<Kept>>>,
}

impl KeptAnswers {
    /// An empty store with these limits.
    pub fn new(limits: KeptLimits) -> Self {
        Self {
            limits,
            answers: Mutex::default(),
        }
    }

    /// Makes room for a new answer `id` of `client`, unless a limit is met.
    pub fn keep(&self, id: &str, client: ClientKey) -> Result<Arc<Kept>, Full> {
        let mut answers = self.answers();
        self.forget_expired(&mut answers);
        if answers.len() >= self.limits.max {
            return Err(Full::Everyone(self.limits.max));
        }
        let of_client = answers.values().filter(|kept| kept.client == client);
        if of_client.count() >= self.limits.per_client {
            return Err(Full::Client(self.limits.per_client));
        }
        let kept = Arc::new(Kept::new(client));
        answers.insert(id.to_owned(), Arc::clone(&kept));
        Ok(kept)
    }

    /// The answer `id`, if it is kept.
    pub fn get(&self, id: &str) -> Option<Arc<Kept>> {
        let mut answers = self.answers();
        self.forget_expired(&mut answers);
        answers.get(id).cloned()
    }

    /// Forgets the answer `id` and stops its generation; false if no such answer is kept.
    pub fn cancel(&self, id: &str) -> bool {
        let removed = self.answers().remove(id);
        removed.inspect(|kept| kept.cancel.cancel()).is_some()
    }

    /// Answers kept now.
    pub fn len(&self) -> usize {
        self.answers().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn forget_expired(&self, answers: &mut HashMap<String, Arc<Kept>>) {
        let keep_for = self.limits.keep_for;
        answers.retain(|_, kept| !kept.progress.borrow().expired(keep_for));
    }

    fn answers(&self) -> MutexGuard<'_, HashMap<String, Arc<Kept>>> {
        // A panic while holding the lock leaves the map as it was: whole entries only.
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How far an answer has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    events: usize,
    finished: Option<Instant>,
}

impl Progress {
    fn expired(&self, keep_for: Duration) -> bool {
        self.finished.is_some_and(|at| at.elapsed() >= keep_for)
    }
}

/// One kept answer: its events so far, whether it has finished, and the token that stops its
/// generation.
#[derive(Debug)]
pub struct Kept {
    client: ClientKey,
    events: Mutex<Vec<Bytes>>,
    progress: watch::Sender<Progress>,
    cancel: CancellationToken,
}

impl Kept {
    fn new(client: ClientKey) -> Self {
        let progress = Progress {
            events: 0,
            finished: None,
        };
        Self {
            client,
            events: Mutex::default(),
            progress: watch::Sender::new(progress),
            cancel: CancellationToken::new(),
        }
    }

    /// Cancelled by `DELETE`: the generation stops.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Adds the next event (already encoded, its `id:` its index) and wakes the readers.
    pub fn push(&self, event: Bytes) {
        let events = {
            let mut events = self.events();
            events.push(event);
            events.len()
        };
        self.progress
            .send_modify(|progress| progress.events = events);
    }

    /// The answer has all its events (or was cut short by shutdown): readers end after the last
    /// one, and it is kept `--resume-secs` from now.
    pub fn finish(&self) {
        self.progress
            .send_modify(|progress| progress.finished = Some(Instant::now()));
    }

    /// Whether a reader starting at event `from` would get nothing: the answer finished and has
    /// no event from there on.
    pub fn read_through(&self, from: usize) -> bool {
        let progress = *self.progress.borrow();
        progress.finished.is_some() && from >= progress.events
    }

    /// Its events from index `from` on, each as soon as it is pushed, ending when the answer
    /// has finished and every event has been sent, or when it is cancelled.
    pub fn read_from(self: Arc<Self>, from: usize) -> impl Stream<Item = Bytes> + Send + Sync {
        let progress = self.progress.subscribe();
        stream::unfold(
            (self, from, progress),
            |(kept, next, mut progress)| async move {
                loop {
                    // Progress first, then the events: a push after this look wakes `changed`.
                    let finished = progress.borrow_and_update().finished.is_some();
                    let event = kept.events().get(next).cloned();
                    if let Some(event) = event {
                        return Some((event, (kept, next + 1, progress)));
                    }
                    if finished {
                        return None;
                    }
                    tokio::select! {
                        changed = progress.changed() => changed.ok()?,
                        () = kept.cancel.cancelled() => return None,
                    }
                }
            },
        )
    }

    fn events(&self) -> MutexGuard<'_, Vec<Bytes>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const LIMITS: KeptLimits = KeptLimits {
        max: 3,
        per_client: 2,
        keep_for: Duration::from_secs(60),
    };

    fn client(last: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([127, 0, 0, last]))
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_gets_what_was_kept_then_what_comes_then_the_end() {
        let store = KeptAnswers::new(LIMITS);
        let kept = store.keep("a", client(1)).expect("room");
        kept.push("0".into());
        kept.push("1".into());
        let mut late = Box::pin(Arc::clone(&kept).read_from(1));
        assert_eq!(late.next().await, Some("1".into()));
        let pushing = {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                kept.push("2".into());
                kept.finish();
            })
        };
        assert_eq!(late.next().await, Some("2".into()));
        assert_eq!(late.next().await, None);
        pushing.await.expect("pushed");
        assert!(kept.read_through(3) && !kept.read_through(2));
        let again: Vec<Bytes> = Arc::clone(&kept).read_from(0).collect().await;
        assert_eq!(again, ["0", "1", "2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn one_client_at_its_limit_leaves_room_for_others_and_finished_answers_expire() {
        let store = KeptAnswers::new(LIMITS);
        let first = store.keep("a", client(1)).expect("room");
        store.keep("b", client(1)).expect("room");
        assert_eq!(store.keep("c", client(1)).err(), Some(Full::Client(2)));
        store.keep("c", client(2)).expect("another client has room");
        assert_eq!(store.keep("d", client(3)).err(), Some(Full::Everyone(3)));
        first.finish();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(store.get("a").is_some(), "kept for --resume-secs");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(store.get("a").is_none(), "then forgotten");
        store.keep("d", client(3)).expect("room again");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_forgets_the_answer_and_ends_its_readers() {
        let store = KeptAnswers::new(LIMITS);
        let kept = store.keep("a", client(1)).expect("room");
        let mut reader = Box::pin(Arc::clone(&kept).read_from(0));
        assert!(store.cancel("a") && !store.cancel("a"));
        assert!(kept.cancelled().is_cancelled());
        assert_eq!(reader.next().await, None);
        assert!(store.get("a").is_none() && store.is_empty());
    }
}

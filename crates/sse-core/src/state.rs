//! The state a server shares between its handlers, and the one call every stream route makes:
//! [`AppState::open_stream`], which turns a request into an answer the glue only has to send.
//! `POST /chat` is one call too: [`AppState::post_chat`], and so are the sign-in routes
//! ([`AppState::session`]).
//!
//! Tested by `cargo test -p sse-core state`.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::answer_request::{self, ApiError};
use crate::answers::{AnswerEvents, Answered, Answers};
use crate::chat::{self, PostHeaders, Publisher};
use crate::chat_body::ChatBody;
use crate::chat_log::{ChatLog, Follow};
use crate::client::{self, ClientKey, PerClient};
use crate::cors::Cors;
use crate::descriptors::{self, Budget};
use crate::event::Event;
use crate::expiry::{self, Expiry, UntilExpired};
use crate::gate::{Gate, RequestHead, Turned};
use crate::identity::{Identity, User};
use crate::keep_alive::KeepAlive;
use crate::login::Session;
use crate::metrics::Metrics;
use crate::metronome::Metronome;
use crate::options::{Framework, Options};
use crate::post_limit::PostLimit;
use crate::redis_answers::RedisAnswers;
use crate::redis_log::RedisLog;
use crate::reply::JsonReply;
use crate::request::{BadQuery, StreamHead, StreamKind, StreamRequest};
use crate::rooms::Rooms;
use crate::streams::{self, Plan};

/// Headers every event stream carries besides `Content-Type: text/event-stream` and the
/// cross-origin ones ([`Cors::stream_headers`]: `Access-Control-Allow-Origin: *`, so that pages
/// on other ports such as `/compare` may listen, or with identity on an allowed origin's name).
///
/// - `Cache-Control: no-cache`: a cached stream is a frozen stream.
/// - `X-Accel-Buffering: no`: nginx would otherwise buffer the response and deliver events late.
pub const STREAM_HEADERS: [(&str, &str); 2] =
    [("cache-control", "no-cache"), ("x-accel-buffering", "no")];

/// What the busy answer adds: over HTTP/1.1 the connection closed once it is sent, so that it
/// gives its descriptor back at once rather than sit idle (over HTTP/2 the servers drop
/// `Connection`, which has no meaning there).
pub const BUSY_HEADER: (&str, &str) = ("connection", "close");

/// The headers of one answer, besides `Content-Type`.
pub type Headers = Vec<(&'static str, String)>;

/// The text of the comment written on an idle stream.
pub const KEEP_ALIVE_COMMENT: &str = "keep-alive";

/// How long a browser turned away by `--max-streams` (or `--max-streams-per-client`) waits
/// before trying again.
pub const BUSY_RETRY_MS: u64 = 5000;

/// What a stream route answers.
pub enum StreamAnswer {
    /// 200 with `Content-Type: text/event-stream`, [`STREAM_HEADERS`] and these events, sent
    /// through the framework's own SSE response where it has one.
    Events(EventStream),
    /// 200 with `Content-Type: text/event-stream`, [`STREAM_HEADERS`] and these bytes as the
    /// body, as they are: the chat stream, whose events are encoded once by the hub and shared by
    /// every subscriber. A framework's SSE type would format each of them again per subscriber.
    Encoded(EncodedStream),
    /// 204 No Content: nothing is left to send, and a browser stops reconnecting.
    NoContent,
    /// 400 with this message as a `text/plain` body.
    BadRequest(BadQuery),
    /// This JSON answer. For a stream route with identity on, a stream its token does not open
    /// (401, 403, or 400 for a token in the URL): a browser's `EventSource` stops for good on
    /// it, which is right, since trying the same request again cannot help. For an answer
    /// route, a whole completion, or an error in OpenAI's shape.
    Json(JsonReply),
}

/// Shared by every handler of one server: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    framework: Framework,
    options: Options,
    shutdown: CancellationToken,
    open_streams: AtomicUsize,
    /// Streams open per client address, for `--max-streams-per-client`.
    per_client: PerClient,
    /// Connections open, in all and per client address (see [`AppState::take_connection`]).
    connections: AtomicUsize,
    connections_per_client: PerClient,
    post_limit: PostLimit,
    gate: Gate,
    descriptors: Budget,
    started: Instant,
    chat: ChatLog,
    metronome: Arc<Metronome>,
    metrics: Metrics,
    identity: Option<Identity>,
    cors: Cors,
    answers: Answers,
}

impl AppState {
    /// State for `framework`'s server, whose streams all end when `shutdown` is cancelled.
    /// With `--redis`, starts the task that reads the shared chat log (so it needs a tokio
    /// runtime). Raises the open-files limit and fits `--max-streams` to it (see
    /// [`descriptors`]).
    pub fn new(framework: Framework, mut options: Options, shutdown: CancellationToken) -> Self {
        let descriptors = descriptors::fit(&mut options);
        if Gate::needs_names(&options) {
            tracing::warn!(
                "listening on every address, but answering only to the names localhost and \
                 127.0.0.1: add --allowed-host NAME for each name this server is reached by"
            );
        }
        let rooms = Arc::new(Rooms::new(options.room_limits()));
        let (published, lagged) = rooms.counters();
        let chat = match options.redis_target() {
            None => ChatLog::Memory(rooms),
            Some(target) => ChatLog::Redis(RedisLog::start(target, rooms, shutdown.clone())),
        };
        let redis_status = chat.redis_status().cloned();
        let rooms = Arc::clone(chat.rooms());
        let metrics = Metrics::new(published, lagged, redis_status, rooms);
        let shared_answers = match &chat {
            ChatLog::Redis(redis) => Some(RedisAnswers::new(
                redis.clone(),
                options.answer_pace(),
                options.kept_limits().keep_for,
            )),
            ChatLog::Memory(_) => None,
        };
        let answers = Answers::new(
            options.answer_pace(),
            metrics.answers(),
            options.kept_limits(),
            shared_answers,
            shutdown.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                framework,
                shutdown,
                open_streams: AtomicUsize::new(0),
                per_client: PerClient::default(),
                connections: AtomicUsize::new(0),
                connections_per_client: PerClient::default(),
                post_limit: PostLimit::new(options.post_rate, options.post_burst),
                gate: Gate::from_options(&options),
                descriptors,
                started: Instant::now(),
                chat,
                metronome: Metronome::new(),
                metrics,
                identity: Identity::from_options(&options),
                cors: Cors::new(options.allow_origins.clone(), options.identity_on()),
                answers,
                options,
            }),
        }
    }

    /// Resolves when the server may accept connections: at once, or with Redis once the lobby
    /// has been read from its stream (at most 2 s; see [`RedisLog::ready`]).
    pub async fn ready(&self) {
        if let ChatLog::Redis(redis) = &self.inner.chat {
            redis.ready().await;
        }
    }

    /// The options the server was started with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Cancelled when the server shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// How long a stream may stay silent before a keep-alive comment is written.
    pub fn keep_alive(&self) -> Duration {
        self.inner.options.keep_alive()
    }

    /// Connections the open-files limit leaves room for; past it a server closes new
    /// connections at once (see [`descriptors`]).
    pub fn max_connections(&self) -> usize {
        self.inner.descriptors.max_connections
    }

    /// Counts a connection from `peer` as open, unless the open-files limit leaves no room for
    /// it, or `peer` holds `--max-connections-per-client` already (a `--trusted-proxy` is not
    /// limited); then says which, for the log. The caller closes a refused connection at once.
    pub fn take_connection(&self, peer: IpAddr) -> Result<ConnectionSlot, &'static str> {
        let inner = &self.inner;
        if inner.connections.fetch_add(1, Ordering::Relaxed) >= self.max_connections() {
            inner.connections.fetch_sub(1, Ordering::Relaxed);
            inner.metrics.connection_refused();
            return Err("the open-files limit is reached");
        }
        let options = self.options();
        let trusted = client::is_trusted(peer, &options.trusted_proxies);
        let client = (!trusted).then(|| ClientKey::of(peer));
        if let Some(client) = client {
            let max = options.max_connections_per_client;
            if !inner.connections_per_client.take(client, max) {
                inner.connections.fetch_sub(1, Ordering::Relaxed);
                inner.metrics.connection_refused();
                return Err("--max-connections-per-client is reached");
            }
        }
        Ok(ConnectionSlot {
            state: self.clone(),
            client,
        })
    }

    /// The client behind a request from `peer`: `peer` itself, or, when it is a
    /// `--trusted-proxy`, whom its `Forwarded` or `X-Forwarded-For` header names, given as the
    /// raw bytes of each header's lines. Only the last line is read: a proxy appends its own,
    /// and the lines before it are the client's word. actix-web calls it with its own header
    /// map's lines; axum and warp through [`AppState::client_of_request`].
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a [u8]>,
        x_forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    ) -> ClientKey {
        let trusted = &self.options().trusted_proxies;
        let (forwarded, x_forwarded_for) = (forwarded.into_iter(), x_forwarded_for.into_iter());
        client::client_of(peer, trusted, forwarded.last(), x_forwarded_for.last())
    }

    /// [`AppState::client`], reading the headers from `http`'s header map (axum's and
    /// warp's).
    pub fn client_of_request(&self, peer: IpAddr, headers: &http::HeaderMap) -> ClientKey {
        let lines = |name| {
            headers
                .get_all(name)
                .into_iter()
                .map(http::HeaderValue::as_bytes)
        };
        self.client(
            peer,
            lines(client::FORWARDED),
            lines(client::X_FORWARDED_FOR),
        )
    }

    /// What every request must pass before any route: a path, and one `Host` this server
    /// answers to ([`Gate::check`]). `None` lets it through.
    pub fn turn_away(&self, head: RequestHead<'_>) -> Option<Turned> {
        self.inner.gate.check(head)
    }

    /// Streams open right now.
    pub fn open_streams(&self) -> usize {
        self.inner.open_streams.load(Ordering::Relaxed)
    }

    /// Everything a stream route does for `client`, given what its request head carries (the
    /// raw query without `?`, the raw `Last-Event-ID`, and with identity on its token). The
    /// stream counts as open until dropped, and ends on shutdown, and when its token expires.
    ///
    /// Past `--max-streams`, or past `--max-streams-per-client` for this client, the answer
    /// says the server is busy instead. A chat stream's answer waits until each of its rooms
    /// knows where the stream starts (with Redis, a room nobody here followed yet is read
    /// first, at most 2 s): a message posted once the head has arrived is never missed.
    pub async fn open_stream(
        &self,
        kind: StreamKind,
        client: ClientKey,
        head: StreamHead<'_>,
    ) -> StreamAnswer {
        let request = match StreamRequest::parse(kind, head.query, head.last_event_id) {
            Ok(request) => request,
            Err(bad) => return StreamAnswer::BadRequest(bad),
        };
        let user = match self.stream_user(&request, head) {
            Ok(user) => user,
            Err(denied) => return StreamAnswer::Json(denied),
        };
        let mut headers = self.inner.cors.stream_headers(head.origin, head.host);
        headers.extend(STREAM_HEADERS.map(|(name, value)| (name, value.to_owned())));
        // A paced stream's events, or `None` for the chat.
        let paced = match streams::plan(&request, &self.inner.metronome) {
            Plan::NoContent => return StreamAnswer::NoContent,
            Plan::Stream(events) => Some(events),
            Plan::Chat => None,
        };
        let slot = match self.take_slot(kind, client) {
            Ok(slot) => slot,
            Err(why) => return StreamAnswer::Events(busy(&why, headers)),
        };
        let ended = self.shutdown().clone().cancelled_owned();
        let retry_ms = self.options().stream_retry_ms();
        // Counted as they are handed to the framework: `retry:` and keep-alives are not events.
        let sent = self.inner.metrics.events_sent(kind);
        let expiry = self.expiry(user.as_ref());
        if let Some(events) = paced {
            return StreamAnswer::Events(EventStream {
                retry_ms,
                events: until_expired(counting(events, sent).take_until(ended), expiry),
                _slot: Some(slot),
                headers,
            });
        }
        let body = self.chat_body(request, retry_ms, sent, ended, expiry).await;
        StreamAnswer::Encoded(EncodedStream {
            bytes: Box::pin(body),
            _slot: Some(slot),
            headers,
        })
    }

    /// The body of the chat stream `request` asks for, once each of its rooms knows where it
    /// starts; its messages counted in `sent`, ended by `ended` (shutdown) and `expiry`.
    async fn chat_body(
        &self,
        request: StreamRequest,
        retry_ms: u64,
        sent: Counter,
        ended: WaitForCancellationFutureOwned,
        expiry: Option<Expiry<Event>>,
    ) -> ChatBody {
        let follow = Follow {
            positions: request.positions(),
            rooms: request.rooms,
            history: request.history,
            replay_bytes: self.options().replay_bytes(),
        };
        let expiry = expiry.map(|expiry| Expiry {
            after: expiry.after,
            event: expiry.event.encode(),
            counted: expiry.counted,
        });
        ChatBody::new(
            Event::retry(retry_ms).encode(),
            self.inner.chat.subscribe(follow).await,
            sent,
            self.keep_alive(),
            ended,
            expiry,
        )
    }

    /// With identity on, who `request` is and whether its token opens its rooms; `None` for
    /// a request without a token, or with identity off.
    fn stream_user(
        &self,
        request: &StreamRequest,
        head: StreamHead<'_>,
    ) -> Result<Option<User>, JsonReply> {
        let Some(identity) = &self.inner.identity else {
            return Ok(None);
        };
        let rooms: &[_] = if request.kind == StreamKind::Chat {
            &request.rooms
        } else {
            &[]
        };
        let user = identity.stream_user(head.credentials, head.query, rooms);
        user.map_err(|denied| {
            self.inner.metrics.auth_refused(denied.status());
            let mut headers = self.inner.cors.post_headers(head.origin, head.host);
            headers.extend(denied.headers());
            JsonReply::error(denied.status(), &denied.to_string(), headers)
        })
    }

    /// For a stream opened with a token (`user`): when it ends, the event that says so, and
    /// the counter of streams ended that way.
    fn expiry(&self, user: Option<&User>) -> Option<Expiry<Event>> {
        let (identity, user) = self.inner.identity.as_ref().zip(user)?;
        Some(Expiry {
            after: identity.time_left(user),
            event: expiry::expired_event(user),
            counted: self.inner.metrics.expired(),
        })
    }

    /// Everything `POST /chat/{room}` (`room` as it is in the path) or `POST /chat` (`None`)
    /// from `client` does, given the request's headers and its body as a stream of chunks:
    /// checks, publishes to the room's streams, and says what to answer.
    pub async fn post_chat<S, B, E>(
        &self,
        client: ClientKey,
        room: Option<&str>,
        headers: PostHeaders<'_>,
        body: S,
    ) -> JsonReply
    where
        S: Stream<Item = Result<B, E>>,
        B: bytes::Buf,
        E: std::fmt::Display,
    {
        let to = Publisher {
            log: &self.inner.chat,
            limit: &self.inner.post_limit,
            identity: self.inner.identity.as_ref(),
            cors: &self.inner.cors,
        };
        let reply = chat::post(to, client, room, headers, body).await;
        // 401 and 403 are the token's refusals only: no other check answers them.
        self.inner.metrics.auth_refused(reply.status);
        reply
    }

    /// Everything `POST /v1/chat/completions` from `client` does, given the request's headers
    /// and its body as a stream of chunks: reads and checks the request, then answers it as an
    /// event stream, or as one JSON object (see [`Answers::answer`]). A streamed answer counts
    /// as an open stream (`--max-streams`, `--max-streams-per-client`) until it ends, and so
    /// does a whole one while it is generated.
    pub async fn complete<S, B, E>(
        &self,
        client: ClientKey,
        headers: PostHeaders<'_>,
        body: S,
    ) -> StreamAnswer
    where
        S: Stream<Item = Result<B, E>>,
        B: bytes::Buf,
        E: std::fmt::Display,
    {
        let cors = self.inner.cors.post_headers(headers.origin, headers.host);
        let request = match read_answer_request(headers, body).await {
            Ok(request) => request,
            Err(error) => return StreamAnswer::Json(error.reply(cors)),
        };
        let slot = match self.take_slot(StreamKind::Answer, client) {
            Ok(slot) => slot,
            Err(why) => return StreamAnswer::Json(busy_answer(&why, cors)),
        };
        let answered = self.inner.answers.answer(client, &request).await;
        self.answered(answered, slot, cors)
    }

    /// `GET /v1/streams/{id}` from `client`: the rest of a kept answer, after the request's
    /// `Last-Event-ID` (header, or `lastEventId` in the query).
    pub async fn resume_answer(
        &self,
        client: ClientKey,
        id: &str,
        head: StreamHead<'_>,
    ) -> StreamAnswer {
        let cors = self.inner.cors.post_headers(head.origin, head.host);
        // No parameter of a stream route applies; only `lastEventId` is read.
        let last_event_id =
            StreamRequest::parse(StreamKind::Answer, head.query, head.last_event_id)
                .map_or(None, |request| request.last_event_id);
        let slot = match self.take_slot(StreamKind::Answer, client) {
            Ok(slot) => slot,
            Err(why) => return StreamAnswer::Json(busy_answer(&why, cors)),
        };
        let answered = self.inner.answers.resume(id, last_event_id).await;
        self.answered(answered, slot, cors)
    }

    /// `DELETE /v1/streams/{id}`: stops a kept answer and forgets it.
    pub async fn cancel_answer(&self, id: &str, headers: PostHeaders<'_>) -> JsonReply {
        let cors = self.inner.cors.post_headers(headers.origin, headers.host);
        match self.inner.answers.cancel(id).await {
            Ok(json) => JsonReply {
                status: 200,
                json: json.to_string(),
                headers: cors,
            },
            Err(error) => error.reply(cors),
        }
    }

    /// What the glue sends for `answered`: a stream holds `slot` until it ends, with the
    /// stream headers and keep-alive comments while the model thinks.
    fn answered(&self, answered: Answered, slot: OpenSlot, mut headers: Headers) -> StreamAnswer {
        match answered {
            Answered::Json(json) => StreamAnswer::Json(JsonReply {
                status: 200,
                json: json.to_string(),
                headers,
            }),
            Answered::NoContent => StreamAnswer::NoContent,
            Answered::Error(error) => StreamAnswer::Json(error.reply(headers)),
            Answered::Events(events) => {
                headers.extend(STREAM_HEADERS.map(|(name, value)| (name, value.to_owned())));
                StreamAnswer::Encoded(self.answer_body(events, slot, headers))
            }
        }
    }

    fn answer_body(&self, events: AnswerEvents, slot: OpenSlot, headers: Headers) -> EncodedStream {
        let sent = self.inner.metrics.events_sent(StreamKind::Answer);
        let ended = self.shutdown().clone().cancelled_owned();
        let events = KeepAlive::new(counting(events, sent), self.keep_alive());
        EncodedStream {
            bytes: Box::pin(events.take_until(ended)),
            _slot: Some(slot),
            headers,
        }
    }

    /// Resumable answers kept now.
    pub fn kept_answers(&self) -> usize {
        self.inner.answers.kept()
    }

    /// The answer to a preflight `OPTIONS` of `/chat...`, `/login`, `/logout` or `/me`: 204
    /// with these headers ([`Cors::preflight_headers`]).
    pub fn preflight(&self, origin: Option<&[u8]>, host: Option<&[u8]>) -> Headers {
        self.inner.cors.preflight_headers(origin, host)
    }

    /// The sign-in routes, `POST /login`, `POST /logout` and `GET /me` (see [`Session`]).
    pub fn session(&self) -> Session<'_> {
        let inner = &self.inner;
        Session {
            identity: inner.identity.as_ref(),
            demo_login: inner.options.demo_login,
            cookie: inner.options.cookie_policy(),
            cors: &inner.cors,
            limit: &inner.post_limit,
        }
    }

    /// Counts a stream as open, unless `--max-streams` are open already or `client` holds
    /// `--max-streams-per-client`; then says which, for the busy answer's comment.
    fn take_slot(&self, kind: StreamKind, client: ClientKey) -> Result<OpenSlot, String> {
        let options = self.options();
        let (max, open) = (options.max_streams, &self.inner.open_streams);
        // Increment first, then check: two requests racing for the last slot cannot both win.
        if open.fetch_add(1, Ordering::Relaxed) >= max {
            open.fetch_sub(1, Ordering::Relaxed);
            self.inner.metrics.stream_refused();
            tracing::warn!(max, "stream refused: --max-streams reached");
            return Err(format!("server busy: {max} streams open, try again later"));
        }
        let per_client = options.max_streams_per_client;
        if !self.inner.per_client.take(client, per_client) {
            open.fetch_sub(1, Ordering::Relaxed);
            self.inner.metrics.stream_refused_per_client();
            tracing::info!(client = %client.addr(), per_client, "stream refused: --max-streams-per-client reached");
            return Err(format!(
                "too many streams from your address: {per_client} open, try again later"
            ));
        }
        self.inner.metrics.stream_opened(kind);
        tracing::debug!(stream = kind.name(), "stream opened");
        Ok(OpenSlot {
            state: self.clone(),
            kind,
            client,
            handed_at: None,
        })
    }

    /// The body of `GET /metrics`, whose `Content-Type` is [`crate::metrics::CONTENT_TYPE`].
    pub fn metrics(&self) -> String {
        self.inner.metrics.render()
    }

    /// The body of `GET /health`.
    pub fn health(&self) -> Health {
        Health {
            status: "ok",
            server: self.inner.framework.name,
            open_streams: self.open_streams(),
            max_streams: self.options().max_streams,
            uptime_secs: self.inner.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
            hub: self.inner.chat.kind(),
            redis: self
                .inner
                .chat
                .redis_status()
                .map(|s| if s.is_up() { "up" } else { "down" }),
            redis_nodes: self.inner.chat.redis_status().map(|status| {
                let nodes = status.nodes().into_iter();
                nodes
                    .map(|(node, up)| (node, if up { "up" } else { "down" }))
                    .collect()
            }),
            rooms: self.inner.chat.rooms().len(),
            identity: Identity::mode(self.inner.identity.as_ref()),
        }
    }
}

/// `GET /health`, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Always `ok` while the server answers.
    pub status: &'static str,
    /// Which framework answered: `axum`, `actix` or `warp`.
    pub server: &'static str,
    /// Event streams open now.
    pub open_streams: usize,
    /// `--max-streams`.
    pub max_streams: usize,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// The workspace version.
    pub version: &'static str,
    /// Where the chat's rooms live: `memory` (this process), `redis` or `redis-cluster`
    /// (shared by every instance).
    pub hub: &'static str,
    /// With Redis: `up` while every node answers, else `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
    /// With Redis: each node (with a cluster, each master), `host:port`, `up` or `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_nodes: Option<std::collections::BTreeMap<String, &'static str>>,
    /// Rooms in this process's memory now (with Redis, the rooms followed here).
    pub rooms: usize,
    /// `off`, `optional` (identity on, public rooms open to all) or `required`.
    pub identity: &'static str,
}

/// `stream`, adding one to `sent` for each item it yields.
fn counting<S: Stream>(stream: S, sent: Counter) -> impl Stream<Item = S::Item> {
    stream.inspect(move |_| {
        sent.inc();
    })
}

/// `stream` as it is; with `expiry`, only until then, then the `expired` event, then the end.
/// That event is counted in `sse_streams_expired_total` when it is handed over.
fn until_expired<S, T>(stream: S, expiry: Option<Expiry<T>>) -> BoxedStream<T>
where
    S: Stream<Item = T> + Send + Sync + 'static,
    T: Unpin + Send + Sync + 'static,
{
    match expiry {
        None => Box::pin(stream),
        Some(Expiry {
            after,
            event,
            counted,
        }) => Box::pin(UntilExpired::new(stream, after, event, counted)),
    }
}

type BoxedStream<T> = Pin<Box<dyn Stream<Item = T> + Send + Sync>>;

/// The request of `POST /v1/chat/completions`: JSON, within its size and time, and valid.
async fn read_answer_request<S, B, E>(
    headers: PostHeaders<'_>,
    body: S,
) -> Result<answer_request::AnswerRequest, ApiError>
where
    S: Stream<Item = Result<B, E>>,
    B: bytes::Buf,
    E: std::fmt::Display,
{
    let limit = answer_request::MAX_BODY_BYTES;
    chat::check_json_head(&headers, limit)?;
    let body = chat::read_body_in_time(body, limit).await?;
    answer_request::parse(&body)
}

/// Past `--max-streams` or `--max-streams-per-client`, an answer is refused with 429 and
/// `Retry-After`, which OpenAI's clients wait for and try again.
fn busy_answer(why: &str, mut headers: Headers) -> JsonReply {
    headers.push(("retry-after", (BUSY_RETRY_MS / 1000).to_string()));
    ApiError::new(429, "rate_limit_error", why)
        .with_code("too_many_streams")
        .reply(headers)
}

/// Past `--max-streams` or `--max-streams-per-client`: status 200 (a 503 would make a browser
/// give up for good), a long `retry:`, a comment saying why, and the end of the stream, so the
/// browser comes back later.
fn busy(why: &str, mut headers: Headers) -> EventStream {
    let comment = Event::comment(why);
    headers.push((BUSY_HEADER.0, BUSY_HEADER.1.to_owned()));
    EventStream {
        retry_ms: BUSY_RETRY_MS,
        events: Box::pin(stream::iter([comment])),
        _slot: None,
        headers,
    }
}

/// The events of one response, which opens with a `retry:` field. Dropping it (the client went
/// away, or the stream ended) releases everything it held, timers included, and lowers the
/// open-streams count.
pub struct EventStream {
    retry_ms: u64,
    events: BoxedStream<Event>,
    _slot: Option<OpenSlot>,
    headers: Headers,
}

impl EventStream {
    /// How long a browser should wait before reconnecting: the `retry:` field the response
    /// sends before its first event. (actix-web-lab takes it as a setting, not as an event.)
    pub fn retry(&self) -> Duration {
        Duration::from_millis(self.retry_ms)
    }

    /// The headers to send besides `Content-Type: text/event-stream`: [`STREAM_HEADERS`] and
    /// the cross-origin ones, and for the busy answer [`BUSY_HEADER`].
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// Whether this is the busy answer, whose connection closes once it is sent.
    pub fn closes_connection(&self) -> bool {
        self.headers.iter().any(|(name, _)| *name == BUSY_HEADER.0)
    }

    /// The whole response body as the core encodes it: `retry:` first, then every event, and a
    /// keep-alive comment after `keep_alive` of silence. For a framework whose own SSE type
    /// cannot meet the contract.
    pub fn encoded(self, keep_alive: Duration) -> EncodedStream {
        let Self {
            retry_ms,
            events,
            _slot,
            headers,
        } = self;
        let retry = Event::retry(retry_ms).encode();
        let events = events.map(|event| event.encode());
        EncodedStream {
            bytes: Box::pin(stream::iter([retry]).chain(KeepAlive::new(events, keep_alive))),
            _slot,
            headers,
        }
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let polled = self.events.as_mut().poll_next(cx);
        if let Some(slot) = &mut self._slot {
            slot.polled(&polled);
        }
        polled
    }
}

/// A whole response body, already encoded: `retry:` first, then events and keep-alive
/// comments, each chunk flushed as it comes. Dropping it releases everything it held.
pub struct EncodedStream {
    bytes: BoxedStream<Bytes>,
    _slot: Option<OpenSlot>,
    headers: Headers,
}

impl EncodedStream {
    /// The headers to send besides `Content-Type: text/event-stream` (see
    /// [`EventStream::headers`]).
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
}

impl Stream for EncodedStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let polled = self.bytes.as_mut().poll_next(cx);
        if let Some(slot) = &mut self._slot {
            slot.polled(&polled);
        }
        polled
    }
}

/// One unit of the open-connections count (and of its client's), given back on drop.
pub struct ConnectionSlot {
    state: AppState,
    client: Option<ClientKey>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let inner = &self.state.inner;
        inner.connections.fetch_sub(1, Ordering::Relaxed);
        if let Some(client) = self.client {
            inner.connections_per_client.give_back(client);
        }
    }
}

/// One unit of the open-streams count (and of its client's), given back on drop.
struct OpenSlot {
    state: AppState,
    kind: StreamKind,
    client: ClientKey,
    /// When the stream last handed the framework something to write, if the framework has not
    /// asked for more since. A framework asks again as soon as it has written; one that has not
    /// for `--write-timeout-secs` is waiting on a client that stopped reading.
    handed_at: Option<Instant>,
}

impl OpenSlot {
    /// Notes what the stream's latest poll gave the framework.
    fn polled<T>(&mut self, polled: &Poll<Option<T>>) {
        self.handed_at = matches!(polled, Poll::Ready(Some(_))).then(Instant::now);
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let inner = &self.state.inner;
        inner.open_streams.fetch_sub(1, Ordering::Relaxed);
        inner.per_client.give_back(self.client);
        inner.metrics.stream_closed(self.kind);
        // The kernel closed the connection (TCP_USER_TIMEOUT, see `net::tune`) while the
        // framework still held what the stream last handed it.
        let write_timeout = inner.options.write_timeout();
        if self
            .handed_at
            .is_some_and(|at| at.elapsed() >= write_timeout)
        {
            inner.metrics.stream_write_timed_out();
            tracing::info!(stream = self.kind.name(), client = %self.client.addr(),
                "stream closed: the client accepted nothing for --write-timeout-secs");
        }
        tracing::debug!(stream = self.kind.name(), "stream closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn state(args: &str) -> AppState {
        let args = format!("server-axum {args}");
        let options = Options::try_parse_for(Framework::AXUM, args.split_whitespace());
        AppState::new(
            Framework::AXUM,
            options.expect("valid"),
            CancellationToken::new(),
        )
    }

    fn head<'a>(query: Option<&'a str>, last_event_id: Option<&'a [u8]>) -> StreamHead<'a> {
        StreamHead {
            query,
            last_event_id,
            ..StreamHead::default()
        }
    }

    fn local() -> ClientKey {
        ClientKey::of("127.0.0.1".parse().expect("an address"))
    }

    /// A clock stream opened by `client` with no query: its events, or the busy answer.
    async fn clock(state: &AppState, client: ClientKey) -> EventStream {
        events(
            state
                .open_stream(StreamKind::Clock, client, head(None, None))
                .await,
        )
    }

    fn events(answer: StreamAnswer) -> EventStream {
        match answer {
            StreamAnswer::Events(events) => events,
            other => panic!("expected events, got {}", describe(&other)),
        }
    }

    fn encoded(answer: StreamAnswer) -> EncodedStream {
        match answer {
            StreamAnswer::Encoded(bytes) => bytes,
            other => panic!("expected encoded bytes, got {}", describe(&other)),
        }
    }

    fn describe(answer: &StreamAnswer) -> String {
        match answer {
            StreamAnswer::Events(_) => "events".into(),
            StreamAnswer::Encoded(_) => "encoded bytes".into(),
            StreamAnswer::NoContent => "204".into(),
            StreamAnswer::BadRequest(bad) => format!("400: {bad}"),
            StreamAnswer::Json(reply) => format!("{}: {}", reply.status, reply.json),
        }
    }

    async fn post(state: &AppState, body: &str) -> JsonReply {
        let body = stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(
            body.to_owned(),
        ))]);
        let headers = PostHeaders {
            content_type: Some(b"application/json"),
            ..PostHeaders::default()
        };
        state.post_chat(local(), None, headers, body).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_stream_sends_retry_then_what_was_posted() {
        let state = state("--retry-ms 1000 --retry-jitter 0 --keep-alive-secs 5");
        let reply = post(&state, r#"{"user":"ann","text":"hello"}"#).await;
        assert_eq!((reply.status, reply.json.as_str()), (201, r#"{"id":1}"#));
        let mut chat = encoded(
            state
                .open_stream(StreamKind::Chat, local(), head(None, None))
                .await,
        );
        assert_eq!(state.open_streams(), 1);
        assert_eq!(chat.next().await, Some("retry: 1000\n\n".into()));
        let first = chat.next().await.expect("the kept message");
        assert!(first.starts_with(
            b"id: 1\nevent: chat\ndata: {\"id\":1,\"room\":\"lobby\",\"user\":\"ann\""
        ));
        let start = tokio::time::Instant::now();
        assert_eq!(chat.next().await, Some(": keep-alive\n\n".into()));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        post(&state, r#"{"user":"bob","text":"again"}"#).await;
        let second = chat.next().await.expect("a live message");
        assert!(second.starts_with(b"id: 2\nevent: chat\n"), "{second:?}");
        state.shutdown().cancel();
        assert_eq!(chat.next().await, None, "shutdown ends the chat stream");
        drop(chat);
        assert_eq!(state.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_encoded_body_starts_with_retry_then_the_first_event() {
        let state = state("--retry-ms 1234 --retry-jitter 0");
        let stream = events(
            state
                .open_stream(StreamKind::Counter, local(), head(None, None))
                .await,
        );
        assert_eq!(stream.retry(), Duration::from_millis(1234));
        let mut body = std::pin::pin!(stream.encoded(Duration::from_secs(15)));
        assert_eq!(body.next().await, Some("retry: 1234\n\n".into()));
        assert_eq!(
            body.next().await,
            Some("id: 0\ndata: {\"count\":0}\n\n".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_counts_until_dropped() {
        let state = state("");
        let a = state
            .open_stream(StreamKind::Clock, local(), head(None, None))
            .await;
        let b = state
            .open_stream(StreamKind::Paragraph, local(), head(None, None))
            .await;
        assert_eq!(state.open_streams(), 2);
        assert_eq!(state.health().open_streams, 2);
        drop(a);
        assert_eq!(state.open_streams(), 1);
        drop(b);
        assert_eq!(state.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn past_max_streams_a_stream_is_told_to_come_back_later() {
        let state = state("--max-streams 1");
        let _kept = clock(&state, local()).await;
        let refused: Vec<_> = clock(&state, local())
            .await
            .encoded(Duration::from_secs(15))
            .collect()
            .await;
        assert_eq!(
            refused.len(),
            2,
            "retry, a comment, then the end: {refused:?}"
        );
        assert_eq!(refused[0], "retry: 5000\n\n");
        assert!(refused[1].starts_with(b": server busy"), "{:?}", refused[1]);
        assert_eq!(state.open_streams(), 1, "the refused stream is not counted");
    }

    #[tokio::test(start_paused = true)]
    async fn past_max_streams_per_client_that_client_is_told_to_come_back_and_others_are_served() {
        let state = state("--max-streams-per-client 2");
        let other = ClientKey::of("127.0.0.2".parse().expect("an address"));
        let mut kept = Vec::new();
        for _ in 0..2 {
            kept.push(clock(&state, local()).await);
        }
        let refused: Vec<_> = clock(&state, local())
            .await
            .encoded(Duration::from_secs(15))
            .collect()
            .await;
        assert_eq!(refused[0], "retry: 5000\n\n");
        assert!(
            refused[1].starts_with(b": too many streams from your address"),
            "{:?}",
            refused[1]
        );
        let served = clock(&state, other).await;
        assert_eq!(state.open_streams(), 3);
        drop(kept);
        let again = clock(&state, local()).await;
        assert_eq!(
            state.open_streams(),
            2,
            "closing streams gives the client its slots back"
        );
        drop((served, again));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_every_open_stream() {
        let state = state("");
        let mut streams = Vec::new();
        for kind in [
            StreamKind::Clock,
            StreamKind::Counter,
            StreamKind::Paragraph,
        ] {
            let slow = head(Some("interval_ms=60000"), None);
            streams.push(events(state.open_stream(kind, local(), slow).await));
        }
        for stream in &mut streams {
            stream.next().await.expect("first event");
        }
        state.shutdown().cancel();
        for stream in &mut streams {
            assert!(
                stream.next().await.is_none(),
                "stream still open after shutdown"
            );
        }
    }

    #[tokio::test]
    async fn with_identity_on_refusals_are_answered_and_counted() {
        let state = state("--auth-secret a-secret-of-thirty-two-bytes-or-more");
        let denied = state
            .open_stream(StreamKind::Chat, local(), head(Some("rooms=_ops"), None))
            .await;
        let StreamAnswer::Json(reply) = denied else {
            panic!("expected 401, got {}", describe(&denied));
        };
        assert_eq!(reply.status, 401);
        assert!(
            reply
                .headers
                .iter()
                .any(|(name, _)| *name == "www-authenticate")
        );
        assert_eq!(post(&state, r#"{"text":"no token"}"#).await.status, 401);
        let public = state
            .open_stream(StreamKind::Chat, local(), head(None, None))
            .await;
        assert!(
            matches!(public, StreamAnswer::Encoded(_)),
            "the lobby is public"
        );
        let metrics = state.metrics();
        assert!(
            metrics.contains(r#"sse_auth_refused_total{status="401"} 2"#),
            "{metrics}"
        );
        assert_eq!(state.health().identity, "optional");
    }

    #[tokio::test(start_paused = true)]
    async fn answers_bad_queries_and_finished_paragraphs() {
        let state = state("");
        let bad = state
            .open_stream(
                StreamKind::Clock,
                local(),
                head(Some("interval_ms=5"), None),
            )
            .await;
        assert!(matches!(bad, StreamAnswer::BadRequest(b) if b.param == "interval_ms"));
        let done = state
            .open_stream(StreamKind::Paragraph, local(), head(None, Some(b"5")))
            .await;
        assert!(matches!(done, StreamAnswer::NoContent));
        assert_eq!(state.open_streams(), 0);
    }
}

//! Everything the three SSE servers share, so that they behave identically and each server crate
//! is only glue: the framework-neutral [`Event`] and its encoder, the clock, paragraph and
//! counter streams, request parsing, options, shutdown, the open-streams count, and the embedded
//! page. This crate never imports a web framework.
//!
//! Read it in this order: [`event`] (the wire format), [`streams`] (what is sent, when) and
//! [`metronome`] (the timers that pace them), [`request`] (query and `Last-Event-ID`), [`state`]
//! (what a route does); the chat: [`room`] and [`cursor`] (room names, and the id of a stream of
//! several rooms), [`hub`] (one room's log), [`rooms`], [`room_stream`], [`chat`], [`chat_body`]
//! and [`chat_log`], then [`redis_log`], [`room_reader`], [`redis_conn`] and [`redis_status`]
//! (the rooms in Redis or a Redis Cluster);
//! then what keeps one client from taking the server from the others: [`client`], [`gate`],
//! [`post_limit`] and [`descriptors`]; who may read what: [`identity`], [`credentials`],
//! [`expiry`], [`login`] and [`cors`]; then [`keep_alive`], [`options`], [`net`], [`tls`] and
//! [`serve`] (HTTPS and HTTP/2), [`shutdown`], [`assets`] and [`logging`]. Answers streamed over
//! `POST`, as AI APIs send them: [`answer_request`], [`model`], [`generation`],
//! [`kept_answers`] and [`answers`]. Test it with
//! `cargo test -p sse-core`.

pub mod answer_request;
pub mod answers;
pub mod assets;
pub mod chat;
pub mod chat_body;
pub mod chat_log;
pub mod client;
pub mod cors;
pub mod credentials;
pub mod cursor;
pub mod descriptors;
pub mod event;
pub mod expiry;
pub mod gate;
pub mod generation;
pub mod hub;
pub mod identity;
pub mod keep_alive;
pub mod kept_answers;
pub mod logging;
pub mod login;
pub mod metrics;
pub mod metronome;
pub mod model;
pub mod net;
pub mod options;
pub mod post_limit;
pub mod redis_answers;
pub mod redis_conn;
pub mod redis_log;
pub mod redis_status;
pub mod reply;
pub mod request;
pub mod room;
pub mod room_reader;
pub mod room_stream;
pub mod rooms;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod streams;
pub mod tls;

pub use client::{ClientKey, Peer};
pub use event::{Event, FieldValue, InvalidField};
pub use options::{Framework, Options};
pub use request::StreamKind;
pub use state::{AppState, EncodedStream, EventStream, StreamAnswer};
pub use tls::Tls;
pub use tokio_util::sync::CancellationToken;

//! The SSE contract served with axum. All behaviour lives in `sse-core`; this file is the glue:
//! routes, turning a core [`Event`] into axum's, and sending a [`StreamAnswer`].
//!
//! Run with `cargo run -p server-axum`; test with `cargo test -p server-axum`.

use std::convert::Infallible;
use std::io;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{AppendHeaders, IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get, post};
use futures_util::{StreamExt, stream};
use sse_core::chat::{PostHeaders, room_in_path};
use sse_core::reply::JsonReply;
use sse_core::request::{StreamHead, host_of};
use sse_core::state::KEEP_ALIVE_COMMENT;
use sse_core::{
    AppState, CancellationToken, Event, Framework, Options, Peer, StreamAnswer, StreamKind, Tls,
    assets, cors, metrics,
};
use tokio::net::TcpListener;

/// This server's name and default port.
pub const FRAMEWORK: Framework = Framework::AXUM;

/// Every route of the contract.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/compare", get(compare))
        .route("/static/{*name}", get(static_file))
        .route("/events", stream_route(StreamKind::Clock))
        .route("/events/paragraph", stream_route(StreamKind::Paragraph))
        .route("/events/counter", stream_route(StreamKind::Counter))
        .route("/events/chat", stream_route(StreamKind::Chat))
        .route("/chat", post(post_chat).options(preflight))
        .route("/chat/{room}", post(post_chat).options(preflight))
        .route("/login", post(login).options(preflight))
        .route("/logout", post(logout).options(preflight))
        .route("/me", get(me).options(preflight))
        .route("/v1/chat/completions", post(complete).options(preflight))
        .route(
            "/v1/streams/{id}",
            get(resume_answer).delete(cancel_answer).options(preflight),
        )
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state)
}

/// Serves `listener` (over TLS, HTTP/2 and HTTP/1.1, with `tls`) until `shutdown` is
/// cancelled; open streams end at that moment, so the graceful shutdown does not wait for them.
///
/// `axum::serve` speaks neither TLS nor HTTP/2 settings of our choosing, so the router, a tower
/// service, goes to the accept loop the core shares with warp, which also checks every
/// request's target and `Host` and hands each the connection's [`Peer`] address. Each
/// connection gets a clone of the router with its state already in: one shared route table, not
/// one per connection (`axum::serve(listener, router)` rebuilt it for each, 6 to 7 KiB more per
/// open stream).
pub async fn serve(
    listener: TcpListener,
    options: Options,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let state = AppState::new(FRAMEWORK, options, shutdown.clone());
    state.ready().await;
    sse_core::serve::serve(listener, tls, state.clone(), app(state)).await
}

/// `GET` on a stream route: the same handler for every stream, told which one it serves.
fn stream_route(kind: StreamKind) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              Extension(Peer(peer)): Extension<Peer>,
              uri: Uri,
              headers: HeaderMap| async move {
            let client = state.client_of_request(peer.ip(), &headers);
            let answer = state
                .open_stream(kind, client, StreamHead::of(&uri, &headers))
                .await;
            stream_response(&state, answer)
        },
    )
}

/// What a stream route, an answer or a resumed answer sends for the core's `answer`.
fn stream_response(state: &AppState, answer: StreamAnswer) -> Response {
    match answer {
        StreamAnswer::Events(events) => {
            // axum has no retry setting: the `retry:` field is the first event.
            let (retry, events_headers) = (
                sse::Event::default().retry(events.retry()),
                events.headers().to_vec(),
            );
            let events = stream::iter([retry])
                .chain(events.map(to_axum))
                .map(Ok::<_, Infallible>);
            let keep_alive = KeepAlive::new()
                .interval(state.keep_alive())
                .text(KEEP_ALIVE_COMMENT);
            let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
            // axum's `Sse` sets `Cache-Control` itself: insert, not append, so that each
            // header is sent once.
            for (name, value) in events_headers {
                if let Ok(value) = HeaderValue::try_from(value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        // Chat and answers: bytes the core encoded (for chat once, shared by every subscriber),
        // with their keep-alive comments, sent as they are. When the client goes away, hyper
        // drops the body, and with it the generation of an answer.
        StreamAnswer::Encoded(bytes) => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            AppendHeaders(bytes.headers().to_vec()),
            Body::from_stream(bytes.map(Ok::<_, Infallible>)),
        )
            .into_response(),
        StreamAnswer::NoContent => StatusCode::NO_CONTENT.into_response(),
        StreamAnswer::BadRequest(bad) => (StatusCode::BAD_REQUEST, bad.to_string()).into_response(),
        StreamAnswer::Json(reply) => json_reply(reply),
    }
}

/// The one conversion from the core's event to axum's, field by field, in the core's order.
///
/// axum's builder panics on CR or LF in an id or event name (ours cannot hold them), and writes
/// a CR inside data as a line ending of its own, so CRLF becomes two line breaks. The core stores
/// data with LF line breaks only, which axum splits exactly as the contract asks.
fn to_axum(event: Event) -> sse::Event {
    let mut out = sse::Event::default();
    if let Some(comment) = event.comment_text() {
        // axum takes one comment line per call.
        for line in comment.split('\n') {
            out = out.comment(line);
        }
    }
    if let Some(ms) = event.retry_ms() {
        out = out.retry(std::time::Duration::from_millis(ms));
    }
    if let Some(id) = event.id() {
        out = out.id(id);
    }
    if let Some(name) = event.event() {
        out = out.event(name);
    }
    if let Some(data) = event.data_text() {
        out = out.data(data);
    }
    out
}

/// `POST /chat` and `POST /chat/{room}`, the room as the path has it (`room_in_path`): the raw
/// body, not axum's `Json` extractor, so that every refusal (and its status) is the core's and
/// the same on all three servers.
async fn post_chat(
    State(state): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = state.client_of_request(peer.ip(), &headers);
    let room = room_in_path(uri.path());
    let post_headers = PostHeaders::of(&uri, &headers);
    let body = body.into_data_stream();
    json_reply(state.post_chat(client, room, post_headers, body).await)
}

/// `POST /v1/chat/completions`: an answer in OpenAI's shape, streamed or whole, from the raw
/// body as for the chat.
async fn complete(
    State(state): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = state.client_of_request(peer.ip(), &headers);
    let post_headers = PostHeaders::of(&uri, &headers);
    let answer = state
        .complete(client, post_headers, body.into_data_stream())
        .await;
    stream_response(&state, answer)
}

/// `GET /v1/streams/{id}`: the rest of a kept answer.
async fn resume_answer(
    State(state): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let client = state.client_of_request(peer.ip(), &headers);
    let answer = state
        .resume_answer(client, &id, StreamHead::of(&uri, &headers))
        .await;
    stream_response(&state, answer)
}

/// `DELETE /v1/streams/{id}`: stops a kept answer.
async fn cancel_answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    json_reply(
        state
            .cancel_answer(&id, PostHeaders::of(&uri, &headers))
            .await,
    )
}

/// `POST /login`: the demo sign-in (`--demo-login`).
async fn login(
    State(state): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = state.client_of_request(peer.ip(), &headers);
    let post_headers = PostHeaders::of(&uri, &headers);
    let body = body.into_data_stream();
    json_reply(state.session().login(client, post_headers, body).await)
}

/// `POST /logout`: the token cookie, expired.
async fn logout(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    json_reply(state.session().logout(PostHeaders::of(&uri, &headers)))
}

/// `GET /me`: who the request's token says it is.
async fn me(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    json_reply(state.session().me(PostHeaders::of(&uri, &headers)))
}

fn json_reply(reply: JsonReply) -> Response {
    // The core answers only statuses that are valid.
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let json = [(header::CONTENT_TYPE, "application/json")];
    (status, AppendHeaders(reply.headers), json, reply.json).into_response()
}

/// `OPTIONS` on `/chat...`, `/login`, `/logout`, `/me` and `/v1/...`: the browser asks whether a page on
/// another origin may send this request.
async fn preflight(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let origin = headers.get(header::ORIGIN).map(HeaderValue::as_bytes);
    let cors = state.preflight(origin, host_of(&uri, &headers));
    (StatusCode::NO_CONTENT, AppendHeaders(cors)).into_response()
}

async fn index() -> Response {
    asset_response(assets::index())
}

async fn compare() -> Response {
    asset_response(assets::compare())
}

async fn static_file(Path(name): Path<String>) -> Response {
    match assets::get(&name) {
        Some(asset) => asset_response(asset),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn asset_response(asset: assets::Asset) -> Response {
    let headers = AppendHeaders(asset.headers.iter().copied());
    (
        [(header::CONTENT_TYPE, asset.content_type)],
        headers,
        asset.body,
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    ([cors::ANYONE], Json(state.health())).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What axum writes for `event`, read from a real `Sse` response body.
    async fn axum_bytes(event: Event) -> axum::body::Bytes {
        let events = futures_util::stream::iter([Ok::<_, Infallible>(to_axum(event))]);
        let body = Sse::new(events).into_response().into_body();
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("in-memory body")
    }

    #[tokio::test]
    async fn axum_writes_exactly_the_core_encoding() {
        let mut events = sse_core::event::tricky_events();
        events.push(Event::retry(3000));
        for event in events {
            assert_eq!(axum_bytes(event.clone()).await, event.encode(), "{event:?}");
        }
    }
}

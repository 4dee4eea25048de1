//! The SSE contract served with warp. All behaviour lives in `sse-core`; this file is the glue:
//! routes, and sending a [`StreamAnswer`].
//!
//! Unlike axum and actix, this server does not use its framework's SSE types: warp 0.4's
//! `sse::Event` writes `data:x` with no space after the colon (so a leading space in the data is
//! lost) and does not split data on CR (so a CR can forge a field). It sends the core's encoded
//! bytes instead, with the core's keep-alive.
//!
//! Run with `cargo run -p server-warp`; test with `cargo test -p server-warp`.

use std::convert::Infallible;
use std::io;

use futures_util::StreamExt;
use sse_core::chat::{PostHeaders, room_in_path};
use sse_core::credentials::Credentials;
use sse_core::reply::JsonReply;
use sse_core::request::{LAST_EVENT_ID, StreamHead};
use sse_core::{
    AppState, CancellationToken, EncodedStream, Framework, Options, Peer, StreamAnswer, StreamKind,
    Tls, assets, cors, metrics,
};
use tokio::net::TcpListener;
use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, ORIGIN};
use warp::http::uri::Authority;
use warp::http::{HeaderMap, StatusCode};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// This server's name and default port.
pub const FRAMEWORK: Framework = Framework::WARP;

/// Every route of the contract. Each filter checks its path before its method, so a wrong
/// method on a known path is rejected with 405 and an unknown path with 404.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let index = warp::path::end()
        .and(warp::get())
        .map(|| asset_response(assets::index()));
    let compare = warp::path!("compare")
        .and(warp::get())
        .map(|| asset_response(assets::compare()));
    let static_file = warp::path!("static" / String)
        .and(warp::get())
        .map(|name: String| match assets::get(&name) {
            Some(asset) => asset_response(asset),
            None => not_found(),
        });
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: AppState| {
            let (name, value) = cors::ANYONE;
            warp::reply::with_header(warp::reply::json(&state.health()), name, value)
                .into_response()
        });
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: AppState| {
            let body =
                warp::reply::with_header(state.metrics(), "content-type", metrics::CONTENT_TYPE);
            body.into_response()
        });
    let clock = warp::path!("events").and(stream_route(state.clone(), StreamKind::Clock));
    let paragraph =
        warp::path!("events" / "paragraph").and(stream_route(state.clone(), StreamKind::Paragraph));
    let counter =
        warp::path!("events" / "counter").and(stream_route(state.clone(), StreamKind::Counter));
    let chat_stream =
        warp::path!("events" / "chat").and(stream_route(state.clone(), StreamKind::Chat));
    let room = warp::path!("chat" / String)
        .map(|_room: String| ())
        .untuple_one();
    let chat = warp::path!("chat").or(room).unify().and(
        post_chat(state.clone())
            .or(preflight(state.clone()))
            .unify(),
    );
    let session = session_routes(state.clone());
    let answers = answer_routes(state);
    let all = index
        .or(compare)
        .unify()
        .or(static_file)
        .unify()
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .or(clock)
        .unify()
        .or(paragraph)
        .unify()
        .or(counter)
        .unify()
        .or(chat_stream)
        .unify()
        .or(chat)
        .unify()
        .or(session)
        .unify()
        .or(answers)
        .unify();
    no_trailing_slash().and(all)
}

/// Serves `listener` (over TLS, HTTP/2 and HTTP/1.1, with `tls`) until `shutdown` is
/// cancelled; open streams end at that moment, so the graceful shutdown does not wait for them.
///
/// warp 0.4 removed its TLS, and `warp::serve` chooses no HTTP/2 settings; the filters, turned
/// into a tower service, go to the accept loop the core shares with axum, which also checks
/// every request's target and `Host` before the filters see it (warp's path filter panics on
/// `CONNECT host:port`) and hands each the connection's [`Peer`] address.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let state = AppState::new(FRAMEWORK, options, shutdown.clone());
    state.ready().await;
    let service = warp::service(routes(state.clone()));
    sse_core::serve::serve(listener, tls, state, service).await
}

/// warp ignores a trailing slash (`/events/` is `/events`); the contract, axum and actix do not.
fn no_trailing_slash() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and_then(|path: FullPath| async move {
            let path = path.as_str();
            if path != "/" && path.ends_with('/') {
                return Err(warp::reject::not_found());
            }
            Ok(())
        })
        .untuple_one()
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// `GET` on a stream route. The query is read raw (`warp::query::raw` rejects a request without
/// one) and `Last-Event-ID` as the header's bytes (`warp::sse::last_event_id` answers 400 to a
/// value it cannot parse, which makes a browser give up for good).
fn stream_route(
    state: AppState,
    kind: StreamKind,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::get()
        .and(with_state(state))
        .and(warp::ext::get::<Peer>())
        .and(request_head())
        .then(move |state: AppState, Peer(peer), head: Head| async move {
            let client = state.client_of_request(peer.ip(), &head.headers);
            let answer = state.open_stream(kind, client, head.stream_head()).await;
            stream_response(&state, answer)
        })
}

/// What a stream route, an answer or a resumed answer sends for the core's `answer`. When the
/// client goes away, hyper drops the body, and with it the generation of an answer.
fn stream_response(state: &AppState, answer: StreamAnswer) -> Response {
    match answer {
        StreamAnswer::Events(events) => sse_response(events.encoded(state.keep_alive())),
        StreamAnswer::Encoded(bytes) => sse_response(bytes),
        StreamAnswer::NoContent => StatusCode::NO_CONTENT.into_response(),
        StreamAnswer::BadRequest(bad) => {
            warp::reply::with_status(bad.to_string(), StatusCode::BAD_REQUEST).into_response()
        }
        StreamAnswer::Json(reply) => json_reply(reply),
    }
}

/// An event stream response whose body is the core's encoded bytes, each chunk sent as it comes.
fn sse_response(bytes: EncodedStream) -> Response {
    let stream_headers = bytes.headers().to_vec();
    let mut response = warp::reply::stream(bytes.map(Ok::<_, Infallible>)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    with_headers(response, stream_headers)
}

/// `POST /chat` and `POST /chat/{room}`, the room as the path has it (`room_in_path`; the host,
/// from `warp::host`, is the `Host` header over HTTP/1.1 and the URI's authority over HTTP/2):
/// the raw body as a stream, not `warp::body::json()` (whose refusals differ from the
/// contract's) nor `content_length_limit` (which refuses a chunked body), so that every refusal
/// is the core's and the same on all three servers.
fn post_chat(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::post()
        .and(with_state(state))
        .and(warp::ext::get::<Peer>())
        .and(request_head())
        .and(warp::body::stream())
        .then(|state: AppState, Peer(peer), head: Head, body| async move {
            let client = state.client_of_request(peer.ip(), &head.headers);
            let room = room_in_path(head.path.as_str());
            json_reply(
                state
                    .post_chat(client, room, head.post_headers(), body)
                    .await,
            )
        })
}

/// `POST /v1/chat/completions` (an answer in OpenAI's shape, from the raw body as for the
/// chat), and `GET` and `DELETE /v1/streams/{id}` (resume, or stop, a kept answer), each with
/// its preflight.
fn answer_routes(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let complete = warp::path!("v1" / "chat" / "completions").and(
        warp::post()
            .and(with_state(state.clone()))
            .and(warp::ext::get::<Peer>())
            .and(request_head())
            .and(warp::body::stream())
            .then(|state: AppState, Peer(peer), head: Head, body| async move {
                let client = state.client_of_request(peer.ip(), &head.headers);
                let answer = state.complete(client, head.post_headers(), body).await;
                stream_response(&state, answer)
            })
            .or(preflight(state.clone()))
            .unify(),
    );
    let id = warp::path!("v1" / "streams" / String);
    let resume = id
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::ext::get::<Peer>())
        .and(request_head())
        .then(
            |id: String, state: AppState, Peer(peer), head: Head| async move {
                let client = state.client_of_request(peer.ip(), &head.headers);
                let answer = state.resume_answer(client, &id, head.stream_head()).await;
                stream_response(&state, answer)
            },
        );
    let cancel = id
        .and(warp::delete())
        .and(with_state(state.clone()))
        .and(request_head())
        .then(|id: String, state: AppState, head: Head| async move {
            json_reply(state.cancel_answer(&id, head.post_headers()).await)
        });
    let preflight = id
        .and(preflight(state))
        .map(|_id: String, response| response);
    let stream = resume.or(cancel).unify().or(preflight).unify();
    complete.or(stream).unify()
}

/// `POST /login` (the demo sign-in, `--demo-login`), `POST /logout` and `GET /me`, each with
/// its preflight.
fn session_routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let login = warp::path!("login").and(
        warp::post()
            .and(with_state(state.clone()))
            .and(warp::ext::get::<Peer>())
            .and(request_head())
            .and(warp::body::stream())
            .then(|state: AppState, Peer(peer), head: Head, body| async move {
                let client = state.client_of_request(peer.ip(), &head.headers);
                let session = state.session();
                json_reply(session.login(client, head.post_headers(), body).await)
            })
            .or(preflight(state.clone()))
            .unify(),
    );
    let logout = warp::path!("logout").and(
        warp::post()
            .and(with_state(state.clone()))
            .and(request_head())
            .map(|state: AppState, head: Head| {
                json_reply(state.session().logout(head.post_headers()))
            })
            .or(preflight(state.clone()))
            .unify(),
    );
    let me = warp::path!("me").and(
        warp::get()
            .and(with_state(state.clone()))
            .and(request_head())
            .map(|state: AppState, head: Head| json_reply(state.session().me(head.post_headers())))
            .or(preflight(state))
            .unify(),
    );
    login.or(logout).unify().or(me).unify()
}

/// What the core reads of a request besides its body, gathered from warp's filters.
struct Head {
    headers: HeaderMap,
    host: Option<Authority>,
    path: FullPath,
    query: String,
}

impl Head {
    fn stream_head(&self) -> StreamHead<'_> {
        let raw = |name| self.headers.get(name).map(HeaderValue::as_bytes);
        StreamHead {
            query: Some(&self.query),
            last_event_id: raw(LAST_EVENT_ID),
            origin: raw(ORIGIN.as_str()),
            host: self.host.as_ref().map(|host| host.as_str().as_bytes()),
            credentials: Credentials::of(&self.headers),
        }
    }

    fn post_headers(&self) -> PostHeaders<'_> {
        let raw = |name| self.headers.get(name).map(HeaderValue::as_bytes);
        PostHeaders {
            content_type: raw(CONTENT_TYPE),
            content_length: raw(CONTENT_LENGTH),
            origin: raw(ORIGIN),
            host: self.host.as_ref().map(|host| host.as_str().as_bytes()),
            credentials: Credentials::of(&self.headers),
            query: Some(&self.query),
        }
    }
}

fn request_head() -> impl Filter<Extract = (Head,), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::header::headers_cloned()
        .and(warp::host::optional())
        .and(warp::path::full())
        .and(query)
        .map(|headers, host, path, query| Head {
            headers,
            host,
            path,
            query,
        })
}

fn json_reply(reply: JsonReply) -> Response {
    // The core answers only statuses that are valid.
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let response = warp::reply::with_header(reply.json, CONTENT_TYPE, "application/json");
    with_headers(
        warp::reply::with_status(response, status).into_response(),
        reply.headers,
    )
}

/// `OPTIONS` on `/chat...`, `/login`, `/logout`, `/me` and `/v1/...`: the browser asks whether a page on
/// another origin may send this request.
fn preflight(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::options()
        .and(with_state(state))
        .and(warp::header::headers_cloned())
        .and(warp::host::optional())
        .map(
            |state: AppState, headers: HeaderMap, host: Option<Authority>| {
                let origin = headers.get(ORIGIN).map(HeaderValue::as_bytes);
                let host = host.as_ref().map(|host| host.as_str().as_bytes());
                let cors = state.preflight(origin, host);
                with_headers(StatusCode::NO_CONTENT.into_response(), cors)
            },
        )
}

/// Adds the core's headers (their values are always valid: the core checks them).
fn with_headers(mut response: Response, headers: Vec<(&'static str, String)>) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

fn asset_response(asset: assets::Asset) -> Response {
    let mut response =
        warp::reply::with_header(asset.body, CONTENT_TYPE, asset.content_type).into_response();
    for (name, value) in asset.headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

fn not_found() -> Response {
    warp::reply::with_status("not found", StatusCode::NOT_FOUND).into_response()
}

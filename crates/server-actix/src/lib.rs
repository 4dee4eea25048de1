//! The SSE contract served with actix-web and actix-web-lab's `sse` module. All behaviour lives in
//! `sse-core`; this file is the glue: routes, turning a core [`Event`] into actix-web-lab's, and
//! sending a [`StreamAnswer`].
//!
//! Run with `cargo run -p server-actix`; test with `cargo test -p server-actix`.

use std::any::Any;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method, StatusCode, header};
use actix_web::middleware::{self, Next};
use actix_web::rt::net::TcpStream;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, Responder, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::StreamExt;
use sse_core::chat::{PostHeaders, room_in_path};
use sse_core::client::{FORWARDED, X_FORWARDED_FOR};
use sse_core::credentials::Credentials;
use sse_core::gate::RequestHead;
use sse_core::keep_alive::KeepAlive;
use sse_core::reply::JsonReply;
use sse_core::request::{LAST_EVENT_ID, StreamHead};
use sse_core::serve::REQUEST_HEAD_TIMEOUT;
use sse_core::{
    AppState, CancellationToken, ClientKey, Event, Framework, Options, StreamAnswer, StreamKind,
    Tls, assets, cors, metrics,
};
use tokio::net::TcpListener;
use tokio_util::sync::{DropGuard, WaitForCancellationFutureOwned};

/// This server's name and default port.
pub const FRAMEWORK: Framework = Framework::ACTIX;

/// Every route of the contract. actix builds one `App` per worker thread, so the routes are a
/// configuration function and the state is registered beside them (see [`serve`]).
///
/// Each path is a `resource`, so that a wrong method gets 405 rather than falling through to 404.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/").get(index))
        .service(web::resource("/compare").get(compare))
        .service(web::resource("/static/{name}").get(static_file))
        .service(stream_route("/events", StreamKind::Clock))
        .service(stream_route("/events/paragraph", StreamKind::Paragraph))
        .service(stream_route("/events/counter", StreamKind::Counter))
        .service(stream_route("/events/chat", StreamKind::Chat))
        .service(
            web::resource(["/chat", "/chat/{room}"])
                .post(post_chat)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(
            web::resource("/login")
                .post(login)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(
            web::resource("/logout")
                .post(logout)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(
            web::resource("/me")
                .get(me)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(
            web::resource("/v1/chat/completions")
                .post(complete)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(
            web::resource("/v1/streams/{id}")
                .get(resume_answer)
                .delete(cancel_answer)
                .route(web::method(Method::OPTIONS).to(preflight)),
        )
        .service(web::resource("/health").get(health))
        .service(web::resource("/metrics").get(metrics));
}

/// Serves `listener` (over TLS, HTTP/2 and HTTP/1.1, with `tls`) until `shutdown` is
/// cancelled; open streams end at that moment, so the graceful stop does not wait for them.
pub async fn serve(
    listener: TcpListener,
    options: Options,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let state = AppState::new(FRAMEWORK, options, shutdown.clone());
    state.ready().await;
    // Connections are counted, in all and per client, in `on_connect` (see `count_connection`);
    // actix's own limit, per worker thread, stays above that count as a backstop.
    let max_connections = state.max_connections();
    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .wrap(middleware::from_fn(gate))
                .configure(routes)
                .default_service(web::to(not_found))
        }
    })
    .max_connections(max_connections)
    // The same limits as axum and warp: the TLS handshake, then each request head (the first
    // one over HTTP/2, after its preface), and an idle keep-alive connection.
    .tls_handshake_timeout(REQUEST_HEAD_TIMEOUT)
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .keep_alive(REQUEST_HEAD_TIMEOUT)
    // actix's own signal handling stops at once on SIGINT and waits 30 s on SIGTERM; the shared
    // token ends the streams first, so both signals stop the same quick, graceful way.
    .disable_signals()
    // A client that closes its connection (a FIN) is gone: stop its stream now. actix allows
    // half-closed connections by default, and would notice only at its next write, which on a
    // quiet chat stream is the keep-alive 15 s later, past the contract's 5 s.
    .h1_allow_half_closed(false)
    // Over HTTP/2, actix notices that a client went away only when it next writes to the
    // stream, which on a quiet stream is the keep-alive, 15 s later. Each connection gets a
    // token, cancelled when actix drops the connection, that ends its streams at once.
    .on_connect({
        let state = state.clone();
        move |connection, extensions| {
            let token = CancellationToken::new();
            extensions.insert(ConnectionGone {
                token: token.clone(),
                _guard: token.drop_guard(),
            });
            count_connection(&state, connection, extensions);
        }
    })
    // A graceful stop waits for connections to close; an idle HTTP/2 connection whose streams
    // have ended stays open until the client closes it. Bound the wait (the contract: 2 s).
    .shutdown_timeout(1);
    // actix binds rustls itself, and offers HTTP/2 and HTTP/1.1 by ALPN.
    let server = match tls {
        None => server.listen(listener.into_std()?)?,
        Some(tls) => server.listen_rustls_0_23(listener.into_std()?, (*tls.config).clone())?,
    }
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    server.await
}

/// Before any route: the core's gate ([`AppState::turn_away`]), as axum and warp have it in
/// their accept loop.
async fn gate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let turned = state.and_then(|state| {
        let hosts = request.headers().get_all(header::HOST);
        let head = RequestHead {
            http1: request.version() < actix_web::http::Version::HTTP_2,
            path: request.uri().path(),
            authority: request.uri().authority().map(|a| a.as_str()),
            host: request.headers().get(header::HOST).map(|v| v.as_bytes()),
            host_count: hosts.count(),
        };
        state.turn_away(head)
    });
    match turned {
        Some(turned) => {
            let status = StatusCode::from_u16(turned.status).unwrap_or(StatusCode::BAD_REQUEST);
            let response = HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(turned.message);
            Ok(request.into_response(response).map_into_right_body())
        }
        None => Ok(next.call(request).await?.map_into_left_body()),
    }
}

/// The client the per-client limits count: the connection's peer, or whom a trusted proxy
/// forwarded for.
fn client(state: &AppState, request: &HttpRequest) -> ClientKey {
    let peer = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let lines = |name| {
        request
            .headers()
            .get_all(name)
            .map(|value| value.as_bytes())
    };
    state.client(peer, lines(FORWARDED), lines(X_FORWARDED_FOR))
}

/// Counts a new connection against the open-files limit and `--max-connections-per-client`
/// ([`AppState::take_connection`]), as the accept loop of axum and warp does. actix gives
/// `on_connect` the connection but no way to refuse it, so a refused one is shut down, and
/// actix then closes it; a counted one keeps its unit in the connection's data until actix
/// drops the connection.
fn count_connection(state: &AppState, connection: &dyn Any, extensions: &mut Extensions) {
    let tcp = connection.downcast_ref::<TcpStream>().or_else(|| {
        let tls = connection.downcast_ref::<TlsStream<TcpStream>>()?;
        Some(tls.get_ref().0)
    });
    let Some(tcp) = tcp else { return };
    let Ok(peer) = tcp.peer_addr() else { return };
    match state.take_connection(peer.ip()) {
        Ok(slot) => {
            extensions.insert(slot);
        }
        Err(why) => {
            tracing::debug!(%peer, "connection refused: {why}");
            sse_core::net::shut(tcp);
        }
    }
}

/// Kept in each connection's data (`on_connect`): its token is cancelled when actix drops the
/// connection, and with it the guard.
struct ConnectionGone {
    token: CancellationToken,
    _guard: DropGuard,
}

/// A resource for one stream: `GET` answers, any other method gets 405.
fn stream_route(path: &str, kind: StreamKind) -> actix_web::Resource {
    web::resource(path).route(web::get().to(
        move |state: web::Data<AppState>, request: HttpRequest| async move {
            let client = client(&state, &request);
            let answer = state.open_stream(kind, client, stream_head(&request)).await;
            stream_response(&state, &request, answer)
        },
    ))
}

/// What the core reads of a stream's request, from actix's header map.
fn stream_head(request: &HttpRequest) -> StreamHead<'_> {
    let raw = |name| request.headers().get(name).map(|value| value.as_bytes());
    StreamHead {
        query: Some(request.query_string()),
        last_event_id: raw(LAST_EVENT_ID),
        origin: raw(header::ORIGIN.as_str()),
        host: host(request),
        credentials: credentials(request),
    }
}

/// When the connection of `request` is gone: the moment actix drops it.
fn connection_gone(request: &HttpRequest) -> WaitForCancellationFutureOwned {
    match request.conn_data::<ConnectionGone>() {
        Some(gone) => gone.token.clone().cancelled_owned(),
        None => CancellationToken::new().cancelled_owned(),
    }
}

/// What a stream route, an answer or a resumed answer sends for the core's `answer`. Every
/// stream ends when its connection is gone ([`ConnectionGone`]), and with it the generation of
/// an answer.
fn stream_response(state: &AppState, request: &HttpRequest, answer: StreamAnswer) -> HttpResponse {
    let gone = connection_gone(request);
    match answer {
        StreamAnswer::Events(events) => {
            let (retry, headers) = (events.retry(), events.headers().to_vec());
            let closes = events.closes_connection();
            // The core's keep-alive, after --keep-alive-secs of silence only: actix-web-lab's
            // `with_keep_alive` is a plain interval, which fires right after the first event
            // and keeps firing while events flow.
            let events = Box::pin(events.take_until(gone));
            let events = KeepAlive::events(events, state.keep_alive());
            let mut sse = Sse::from_infallible_stream(events.map(to_actix))
                .with_retry_duration(retry)
                .customize();
            for header in headers {
                sse = sse.insert_header(header);
            }
            let mut response = sse.respond_to(request).map_into_boxed_body();
            // actix-web-lab says `Content-Encoding: identity` (to keep a compression middleware
            // away); axum and warp send no such header, nor does this.
            response.headers_mut().remove(header::CONTENT_ENCODING);
            // actix writes `Connection` from the response's connection type, not from its
            // headers: the busy answer's `close` must be set there.
            if closes {
                response
                    .head_mut()
                    .set_connection_type(ConnectionType::Close);
            }
            response
        }
        // Chat and answers: bytes the core encoded (for chat once, shared by every
        // subscriber), with their keep-alive comments, sent as they are.
        StreamAnswer::Encoded(bytes) => {
            let mut response = HttpResponse::Ok();
            response.content_type("text/event-stream");
            for header in bytes.headers() {
                response.insert_header(header.clone());
            }
            response.streaming(bytes.take_until(gone).map(Ok::<_, Infallible>))
        }
        StreamAnswer::NoContent => HttpResponse::NoContent().finish(),
        StreamAnswer::BadRequest(bad) => HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(bad.to_string()),
        StreamAnswer::Json(reply) => json_reply(reply),
    }
}

/// The one conversion from the core's event to actix-web-lab's. Its `Data` writes `id`, `event`
/// and one `data:` line per LF-separated line, exactly as the core does; the `retry:` field is a
/// setting of the response instead ([`Sse::with_retry_duration`]).
fn to_actix(event: Event) -> sse::Event {
    match (event.data_text(), event.comment_text()) {
        (Some(data), _) => {
            let mut out = sse::Data::new(data.to_owned());
            if let Some(id) = event.id() {
                out.set_id(id.to_owned());
            }
            if let Some(name) = event.event() {
                out.set_event(name.to_owned());
            }
            out.into()
        }
        (None, Some(comment)) => sse::Event::Comment(comment.to_owned().into()),
        // A bare `retry:` event: actix-web-lab sends retry as a setting, so there is nothing
        // left to write but an empty comment. The core's streams never yield one.
        (None, None) => sse::Event::Comment("".into()),
    }
}

/// `POST /chat` and `POST /chat/{room}`, the room as the path has it (`room_in_path`): the raw
/// payload, not actix's `web::Json` extractor, so that every refusal (and its status) is the
/// core's and the same on all three servers.
async fn post_chat(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let room = room_in_path(request.uri().path());
    let client = client(&state, &request);
    let reply = state
        .post_chat(client, room, post_headers(&request), body)
        .await;
    json_reply(reply)
}

/// `POST /v1/chat/completions`: an answer in OpenAI's shape, streamed or whole, from the raw
/// payload as for the chat. A whole answer is generated before anything is sent. Over
/// HTTP/1.1 actix drops this future when the connection closes, and the generation with it;
/// over HTTP/2 it runs it as a task of its own and holds the request (and so the connection's
/// token) until it returns, so a whole answer is generated to its end (docs/src/answers.md).
async fn complete(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let client = client(&state, &request);
    let answer = state.complete(client, post_headers(&request), body).await;
    stream_response(&state, &request, answer)
}

/// `GET /v1/streams/{id}`: the rest of a kept answer.
async fn resume_answer(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let client = client(&state, &request);
    let answer = state
        .resume_answer(client, &id, stream_head(&request))
        .await;
    stream_response(&state, &request, answer)
}

/// `DELETE /v1/streams/{id}`: stops a kept answer.
async fn cancel_answer(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    json_reply(state.cancel_answer(&id, post_headers(&request)).await)
}

/// `POST /login`: the demo sign-in (`--demo-login`).
async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let client = client(&state, &request);
    let session = state.session();
    json_reply(session.login(client, post_headers(&request), body).await)
}

/// `POST /logout`: the token cookie, expired.
async fn logout(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    json_reply(state.session().logout(post_headers(&request)))
}

/// `GET /me`: who the request's token says it is.
async fn me(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    json_reply(state.session().me(post_headers(&request)))
}

/// What the core reads of a `POST` (and of `/me`), from actix's header map.
fn post_headers(request: &HttpRequest) -> PostHeaders<'_> {
    let raw = |name| request.headers().get(name).map(|value| value.as_bytes());
    PostHeaders {
        content_type: raw(header::CONTENT_TYPE),
        content_length: raw(header::CONTENT_LENGTH),
        origin: raw(header::ORIGIN),
        host: host(request),
        credentials: credentials(request),
        query: Some(request.query_string()),
    }
}

/// The request's token headers: `Authorization`, and every `Cookie` line (HTTP/2 sends one per
/// cookie).
fn credentials(request: &HttpRequest) -> Credentials<'_> {
    let headers = request.headers();
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let cookies = headers.get_all(header::COOKIE).map(|v| v.as_bytes());
    Credentials::from_lines(authorization, cookies)
}

fn json_reply(reply: JsonReply) -> HttpResponse {
    // The core answers only statuses that are valid.
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for header in reply.headers {
        response.insert_header(header);
    }
    response.content_type("application/json").body(reply.json)
}

/// The host the request was sent to: its `Host` header (HTTP/1.1), or its URI's authority
/// (HTTP/2's `:authority`, which replaces the header).
fn host(request: &HttpRequest) -> Option<&[u8]> {
    let header = request
        .headers()
        .get(header::HOST)
        .map(|value| value.as_bytes());
    header.or_else(|| request.uri().authority().map(|a| a.as_str().as_bytes()))
}

/// `OPTIONS` on `/chat...`, `/login`, `/logout`, `/me` and `/v1/...`: the browser asks whether a page on
/// another origin may send this request.
async fn preflight(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|value| value.as_bytes());
    let mut response = HttpResponse::NoContent();
    for header in state.preflight(origin, host(&request)) {
        response.insert_header(header);
    }
    response.finish()
}

async fn index() -> HttpResponse {
    asset_response(assets::index())
}

async fn compare() -> HttpResponse {
    asset_response(assets::compare())
}

async fn static_file(name: web::Path<String>) -> HttpResponse {
    match assets::get(&name) {
        Some(asset) => asset_response(asset),
        None => not_found().await,
    }
}

fn asset_response(asset: assets::Asset) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    for header in asset.headers {
        response.insert_header(*header);
    }
    response.content_type(asset.content_type).body(asset.body)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(cors::ANYONE)
        .json(state.health())
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(state.metrics())
}

async fn not_found() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_FOUND).body("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What actix-web-lab writes for `event`, read from a real `Sse` body.
    async fn actix_bytes(event: Event) -> actix_web::web::Bytes {
        let events = futures_util::stream::iter([to_actix(event)]);
        actix_web::body::to_bytes(Sse::from_infallible_stream(events))
            .await
            .expect("in-memory body")
    }

    #[actix_web::test]
    async fn actix_writes_exactly_the_core_encoding() {
        // No bare `retry:` event: actix-web-lab sends retry as a setting.
        for event in sse_core::event::tricky_events() {
            assert_eq!(
                actix_bytes(event.clone()).await,
                event.encode(),
                "{event:?}"
            );
        }
    }
}

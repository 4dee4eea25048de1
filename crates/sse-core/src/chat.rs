//! `POST /chat`: what a message must look like before it reaches the
//! [`Hub`](crate::hub::Hub), and the answer for each way it can be wrong. The same checks and
//! the same words on all three servers.
//!
//! Tested by `cargo test -p sse-core chat`.

use std::fmt;
use std::ops::RangeInclusive;
use std::pin::pin;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value, json};

use crate::chat_log::{ChatLog, NotPublished};
use crate::client::ClientKey;
use crate::cors::Cors;
use crate::credentials::Credentials;
use crate::identity::{Denied, Identity};
use crate::post_limit::{PostLimit, Poster, TooMany};
use crate::redis_log::RETRY_AFTER_SECS;
use crate::reply::JsonReply;
use crate::room::{self, Room};

/// The largest body accepted; a larger one is answered 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long the whole body may take to arrive; a client that trickles it (a byte a second) is
/// answered 408 and its connection closed, rather than held forever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters in `user`, after trimming spaces.
pub const USER_CHARS: RangeInclusive<usize> = 1..=32;
/// Characters in `text`, which may hold newlines but not only spaces.
pub const TEXT_CHARS: RangeInclusive<usize> = 1..=2000;

/// The request headers a `POST` (`/chat`, `/login`) looks at, as the raw bytes the client sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostHeaders<'a> {
    /// `Content-Type`: must be `application/json`.
    pub content_type: Option<&'a [u8]>,
    /// `Content-Length`: a body declared over [`MAX_BODY_BYTES`] is refused before it is read.
    pub content_length: Option<&'a [u8]>,
    /// `Origin`, sent by browsers: decides the cross-origin headers (see [`crate::cors`]).
    pub origin: Option<&'a [u8]>,
    /// The host the request was sent to, which the origin is compared with: the `Host` header
    /// over HTTP/1.1, the URI's authority (`:authority`) over HTTP/2.
    pub host: Option<&'a [u8]>,
    /// The token, if the request carries one (read only with identity on).
    pub credentials: Credentials<'a>,
    /// The raw query: with identity on, a token there is refused.
    pub query: Option<&'a str>,
}

impl<'a> PostHeaders<'a> {
    /// The headers of a request with this URI and header map, in `http`'s types (axum's and
    /// warp's).
    pub fn of(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Self {
        let raw = |name| headers.get(name).map(http::HeaderValue::as_bytes);
        Self {
            content_type: raw(http::header::CONTENT_TYPE),
            content_length: raw(http::header::CONTENT_LENGTH),
            origin: raw(http::header::ORIGIN),
            host: crate::request::host_of(uri, headers),
            credentials: Credentials::of(headers),
            query: uri.query(),
        }
    }
}

/// Why a post was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// 415: the body is not declared as `application/json`. Refusing other types also keeps
    /// other sites' plain HTML forms from posting here (a form cannot send JSON).
    NotJson,
    /// 413: the body is (or is declared) over [`MAX_BODY_BYTES`].
    TooLarge,
    /// 408: the body did not arrive within [`BODY_TIMEOUT`].
    TooSlow,
    /// 429: this client posted more than `--post-burst` at once or `--post-rate` a second.
    TooMany(TooMany),
    /// 400: the body could not be read, is not JSON, or a field is missing or out of bounds.
    Invalid(String),
    /// 503: the message is fine, but the shared chat log (Redis) did not take it. Sent with
    /// `Retry-After`: the client may try again.
    Unavailable(String),
    /// 507 Insufficient Storage: the room is new, and `--max-rooms` rooms exist already. Not
    /// 503 (nothing is down) nor 429 (it is not this client's rate): the server has no room for
    /// another room until one has been idle for `--room-idle-secs`.
    TooManyRooms(usize),
    /// 401, 403 (or 400 for a token in the URL): with identity on, the post needs a token that
    /// may publish to the room.
    Denied(Denied),
}

impl Refused {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotJson => 415,
            Self::TooLarge => 413,
            Self::TooSlow => 408,
            Self::TooMany(_) => 429,
            Self::Invalid(_) => 400,
            Self::Unavailable(_) => 503,
            Self::TooManyRooms(_) => 507,
            Self::Denied(denied) => denied.status(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("Content-Type must be application/json"),
            Self::TooLarge => write!(f, "the body is over {MAX_BODY_BYTES} bytes"),
            Self::TooSlow => write!(f, "the body did not arrive within {BODY_TIMEOUT:?}"),
            Self::TooMany(too_many) => write!(
                f,
                "too many posts from your address: at most {} at once, then {} a second; \
                 try again in {} s",
                too_many.burst,
                too_many.rate,
                retry_after_secs(too_many),
            ),
            Self::TooManyRooms(max) => write!(
                f,
                "this server holds {max} rooms, its most (--max-rooms): post to one of them, or \
                 try again once a room has been idle for --room-idle-secs"
            ),
            Self::Invalid(why) | Self::Unavailable(why) => f.write_str(why),
            Self::Denied(denied) => denied.fmt(f),
        }
    }
}

/// A message that passed every check: `user` trimmed, `text` exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Who wrote it.
    pub user: String,
    /// What they wrote, newlines and all.
    pub text: String,
}

/// Where a post goes, who may post, and how often.
#[derive(Clone, Copy)]
pub struct Publisher<'a> {
    /// The chat log, in memory or in Redis.
    pub log: &'a ChatLog,
    /// The token buckets of `--post-rate` and `--post-burst`.
    pub limit: &'a PostLimit,
    /// With identity on: who may post, and as whom.
    pub identity: Option<&'a Identity>,
    /// Which other origins may post (`--allow-origin`, and with identity on, with cookies).
    pub cors: &'a Cors,
}

/// The whole of `POST /chat/{room}` (or `POST /chat`, the lobby, when `room` is `None`) from
/// `client`, given the room as it is in the path, the request's headers and its body as a
/// stream of chunks (every framework can hand over its body that way). The body is read only
/// after the room, the content type, the declared length, the token (with identity on) and the
/// poster's rate pass, and only up to [`MAX_BODY_BYTES`] and for [`BODY_TIMEOUT`]. With
/// identity on, the message's `user` is the token's `sub`, whatever the body says.
pub async fn post<S, B, E>(
    to: Publisher<'_>,
    client: ClientKey,
    room: Option<&str>,
    headers: PostHeaders<'_>,
    body: S,
) -> JsonReply
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    let mut headers_out = to.cors.post_headers(headers.origin, headers.host);
    let posted = async {
        let room = parse_room(room)?;
        check_json_head(&headers, MAX_BODY_BYTES)?;
        let signed = match to.identity {
            None => None,
            Some(identity) => {
                let user = identity.user(headers.credentials, headers.query);
                let user = user.and_then(|user| identity.may_post(user, &room));
                Some(user.map_err(Refused::Denied)?.name)
            }
        };
        let poster = match &signed {
            Some(name) => Poster::User(name.clone()),
            None => Poster::Address(client),
        };
        to.limit.check(&poster).map_err(Refused::TooMany)?;
        let body = read_body_in_time(body, MAX_BODY_BYTES).await?;
        let message = parse_message(&body, signed)?;
        let log = to.log;
        log.publish(&room, &message.user, &message.text)
            .await
            .map_err(|not| match not {
                NotPublished::Unavailable(why) => Refused::Unavailable(why),
                NotPublished::Full(full) => Refused::TooManyRooms(full.max_rooms),
            })
    };
    match posted.await {
        Ok(id) => {
            tracing::debug!(id, "chat message published");
            JsonReply {
                status: 201,
                json: json!({ "id": id }).to_string(),
                headers: headers_out,
            }
        }
        Err(refused) => {
            match &refused {
                Refused::Unavailable(_) => {
                    headers_out.push(("retry-after", RETRY_AFTER_SECS.to_string()));
                }
                Refused::TooMany(too_many) => {
                    headers_out.push(("retry-after", retry_after_secs(too_many).to_string()));
                }
                Refused::Denied(denied) => headers_out.extend(denied.headers()),
                _ => {}
            }
            JsonReply::error(refused.status(), &refused.to_string(), headers_out)
        }
    }
}

/// The room named by a chat post's path, as sent (not percent-decoded: a room name has no
/// character that needs encoding, so a `%` is simply not allowed): `None` for `/chat`, the
/// lobby.
pub fn room_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/chat/")
}

/// The room of the path, or the lobby: 400 for a name that breaks [`room::NAME_RULE`].
fn parse_room(raw: Option<&str>) -> Result<Room, Refused> {
    let Some(raw) = raw else {
        return Ok(Room::lobby());
    };
    Room::parse(raw).ok_or_else(|| {
        let shown: String = raw.chars().take(40).collect();
        Refused::Invalid(format!(
            "the room name {shown:?} is not allowed: a room name is {}",
            room::NAME_RULE
        ))
    })
}

/// `application/json`, in any case, with or without parameters such as `; charset=utf-8`.
pub fn check_content_type(content_type: Option<&[u8]>) -> Result<(), Refused> {
    let essence = content_type
        .and_then(|value| value.split(|&b| b == b';').next())
        .map(<[u8]>::trim_ascii);
    match essence {
        Some(essence) if essence.eq_ignore_ascii_case(b"application/json") => Ok(()),
        _ => Err(Refused::NotJson),
    }
}

/// What a JSON post's head must say before its body is read: `Content-Type: application/json`
/// (415), and no `Content-Length` over `limit` (413, at once).
pub fn check_json_head(headers: &PostHeaders<'_>, limit: usize) -> Result<(), Refused> {
    check_content_type(headers.content_type)?;
    check_declared_length(headers.content_length, limit)
}

/// A `Content-Length` over `limit` (for the chat, [`MAX_BODY_BYTES`]) is refused before a byte
/// of the body is read. (One that is not a number never gets here: the framework refuses it.)
pub fn check_declared_length(content_length: Option<&[u8]>, limit: usize) -> Result<(), Refused> {
    let declared = content_length
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(Refused::TooLarge),
        _ => Ok(()),
    }
}

/// `Retry-After`, in whole seconds, rounded up: at least 1.
fn retry_after_secs(too_many: &TooMany) -> u64 {
    let secs = too_many.wait.as_secs() + u64::from(too_many.wait.subsec_nanos() > 0);
    secs.max(1)
}

/// [`read_body`] within [`BODY_TIMEOUT`]: 408 for a body that trickles.
pub async fn read_body_in_time<S, B, E>(body: S, limit: usize) -> Result<BytesMut, Refused>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    tokio::time::timeout(BODY_TIMEOUT, read_body(body, limit))
        .await
        .map_err(|_| Refused::TooSlow)?
}

/// Collects the body, giving up as soon as it passes `limit` bytes (413) rather than buffering
/// whatever a client cares to send.
pub async fn read_body<S, B, E>(body: S, limit: usize) -> Result<BytesMut, Refused>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    let mut body = pin!(body);
    let mut collected = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Refused::Invalid(format!("the body could not be read: {e}")))?;
        if collected.len() + chunk.remaining() > limit {
            return Err(Refused::TooLarge);
        }
        collected.put(chunk);
    }
    Ok(collected)
}

/// Checks `{"user": "...", "text": "..."}`; other fields are ignored. With identity on,
/// `signed` is the token's name, which the message is written by: `user` may then be absent,
/// and is ignored when present.
pub fn parse_message(body: &[u8], signed: Option<String>) -> Result<NewMessage, Refused> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Invalid(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(Refused::Invalid(
            r#"the body must be a JSON object: {"user": "...", "text": "..."}"#.into(),
        ));
    };
    let user = match signed {
        Some(name) => name,
        None => check_user(string_field(&object, "user")?, "user").map_err(Refused::Invalid)?,
    };
    let text = string_field(&object, "text")?;
    let text_chars = text.chars().count();
    if !TEXT_CHARS.contains(&text_chars) || text.trim().is_empty() {
        return Err(Refused::Invalid(format!(
            r#""text" must be {} to {} characters, not only spaces; it has {text_chars}"#,
            TEXT_CHARS.start(),
            TEXT_CHARS.end(),
        )));
    }
    check_shown_as_written("text", text).map_err(Refused::Invalid)?;
    Ok(NewMessage {
        user,
        text: text.to_owned(),
    })
}

/// A name the chat shows, from a post's `user` or a token's `sub` (`field` names which):
/// trimmed of spaces, [`USER_CHARS`] long, visible, and shown as written.
pub fn check_user(raw: &str, field: &str) -> Result<String, String> {
    let user = raw.trim();
    let user_chars = user.chars().count();
    if !USER_CHARS.contains(&user_chars) {
        return Err(format!(
            r#""{field}" must be {} to {} characters after trimming spaces; it has {user_chars}"#,
            USER_CHARS.start(),
            USER_CHARS.end(),
        ));
    }
    check_shown_as_written(field, user)?;
    Ok(user.to_owned())
}

/// A name made only of invisible characters (zero-width spaces, a Hangul filler) looks like
/// no name, or like anyone's; a bidirectional control (U+202E, RIGHT-TO-LEFT OVERRIDE) makes
/// the letters after it show in another order than they were written, so `ann\u{202E}nib`
/// reads `annbin`. Both are refused with the reason, rather than silently removed: the client
/// learns what was wrong, and what is shown is byte for byte what was sent. Nothing else is
/// normalized (`user` is trimmed of spaces, that is all).
fn check_shown_as_written(field: &str, value: &str) -> Result<(), String> {
    if value.chars().all(is_invisible) {
        return Err(format!(r#""{field}" has no visible character"#));
    }
    match value.chars().find(|&c| is_bidi_control(c)) {
        Some(control) => Err(format!(
            r#""{field}" holds the bidirectional control U+{:04X}, which changes the order text is shown in"#,
            u32::from(control)
        )),
        None => Ok(()),
    }
}

/// The explicit bidirectional formatting characters (embeddings, overrides, isolates and the
/// marks). Text in Arabic or Hebrew needs none of them: the browser orders it by itself.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// White space and Unicode's default-ignorable characters, which a browser draws as nothing,
/// with the blank letters that draw as a space (Hangul fillers, the blank Braille pattern).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

fn string_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refused> {
    match object.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(Refused::Invalid(format!(r#""{name}" must be a string"#))),
        None => Err(Refused::Invalid(format!(r#""{name}" is missing"#))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::{Limits, Rooms};
    use bytes::Bytes;
    use futures_util::stream;
    use std::convert::Infallible;
    use std::sync::Arc;

    fn memory(history: usize) -> ChatLog {
        ChatLog::Memory(Arc::new(Rooms::new(Limits {
            history,
            max_rooms: 2,
            idle: Duration::from_secs(60),
        })))
    }

    fn client() -> ClientKey {
        ClientKey::of("127.0.0.1".parse().expect("an address"))
    }

    /// Posts `body` to a fresh chat whose rate limit no test reaches.
    async fn post_body(content_type: &str, body: &str) -> JsonReply {
        let log = memory(10);
        let chunks = stream::iter([Ok::<_, Infallible>(Bytes::copy_from_slice(body.as_bytes()))]);
        let limit = PostLimit::new(1000, 1000);
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        post(to, client(), None, json_headers(content_type), chunks).await
    }

    /// `{"user":"a","text":"b"}`, in one chunk.
    fn valid_body() -> impl Stream<Item = Result<Bytes, Infallible>> {
        stream::iter([Ok(Bytes::from_static(br#"{"user":"a","text":"b"}"#))])
    }

    fn json_headers(content_type: &str) -> PostHeaders<'_> {
        PostHeaders {
            content_type: Some(content_type.as_bytes()),
            ..PostHeaders::default()
        }
    }

    fn error_of(reply: &JsonReply) -> String {
        let value: Value = serde_json::from_str(&reply.json).expect("JSON reply");
        value["error"].as_str().expect("an error field").to_owned()
    }

    #[tokio::test]
    async fn a_valid_post_gets_201_and_its_id() {
        let reply = post_body("application/json", r#"{"user":" ann ","text":"hi\nthere"}"#).await;
        assert_eq!((reply.status, reply.json.as_str()), (201, r#"{"id":1}"#));
        let message = parse_message(br#"{"user":" ann ","text":" hi\nthere ","x":1}"#, None);
        assert_eq!(
            message,
            Ok(NewMessage {
                user: "ann".into(),
                text: " hi\nthere ".into()
            }),
            "user is trimmed, text kept byte for byte, other fields ignored"
        );
    }

    #[test]
    fn only_json_content_types_pass() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert_eq!(check_content_type(Some(ok.as_bytes())), Ok(()), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "",
        ] {
            assert_eq!(
                check_content_type(Some(bad.as_bytes())),
                Err(Refused::NotJson),
                "{bad}"
            );
        }
        assert_eq!(check_content_type(None), Err(Refused::NotJson));
    }

    #[tokio::test]
    async fn refusals_name_what_was_wrong() {
        let cases = [
            (
                "text/plain",
                r#"{"user":"a","text":"b"}"#,
                415,
                "application/json",
            ),
            ("application/json", "{", 400, "not valid JSON"),
            ("application/json", "[1]", 400, "JSON object"),
            (
                "application/json",
                r#"{"text":"b"}"#,
                400,
                r#""user" is missing"#,
            ),
            (
                "application/json",
                r#"{"user":"a"}"#,
                400,
                r#""text" is missing"#,
            ),
            (
                "application/json",
                r#"{"user":7,"text":"b"}"#,
                400,
                r#""user" must be a string"#,
            ),
            (
                "application/json",
                r#"{"user":"   ","text":"b"}"#,
                400,
                r#""user" must be 1 to 32"#,
            ),
            (
                "application/json",
                r#"{"user":"a","text":""}"#,
                400,
                r#""text" must be 1 to 2000"#,
            ),
            (
                "application/json",
                r#"{"user":"a","text":" \n "}"#,
                400,
                r#""text" must be"#,
            ),
        ];
        for (content_type, body, status, words) in cases {
            let reply = post_body(content_type, body).await;
            assert_eq!(reply.status, status, "{body}");
            assert!(error_of(&reply).contains(words), "{body}: {}", reply.json);
        }
    }

    #[tokio::test]
    async fn lengths_are_counted_in_characters() {
        let user = |n: usize| format!(r#"{{"user":"{}","text":"b"}}"#, "é".repeat(n));
        assert_eq!(post_body("application/json", &user(32)).await.status, 201);
        assert_eq!(post_body("application/json", &user(33)).await.status, 400);
        let text = |n: usize| format!(r#"{{"user":"a","text":"{}"}}"#, "€".repeat(n));
        assert_eq!(post_body("application/json", &text(2000)).await.status, 201);
        let reply = post_body("application/json", &text(2001)).await;
        assert!(error_of(&reply).contains("it has 2001"), "{}", reply.json);
    }

    #[tokio::test]
    async fn a_body_over_16_kib_is_refused_without_reading_the_rest() {
        let chunk = || Ok::<_, Infallible>(Bytes::from(vec![b' '; 4096]));
        // An endless body: reading stops at the limit.
        let endless = stream::repeat_with(chunk);
        assert_eq!(
            read_body(endless, MAX_BODY_BYTES).await,
            Err(Refused::TooLarge)
        );
        let exactly = stream::iter((0..4).map(|_| chunk()));
        assert_eq!(
            read_body(exactly, MAX_BODY_BYTES).await.map(|b| b.len()),
            Ok(MAX_BODY_BYTES)
        );
        let (log, limit) = (memory(1), PostLimit::new(1, 1));
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        let headers = json_headers("application/json");
        let reply = post(to, client(), None, headers, stream::repeat_with(chunk)).await;
        assert_eq!(reply.status, 413);
        let lobby = log.rooms().get(&Room::lobby()).expect("the lobby");
        assert_eq!(lobby.newest_id(), 0, "nothing was published");
    }

    #[tokio::test]
    async fn a_declared_length_over_16_kib_is_refused_before_the_body_is_read() {
        let (log, limit) = (memory(1), PostLimit::new(1, 1));
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        let headers = PostHeaders {
            content_length: Some(b"10000000"),
            ..json_headers("application/json")
        };
        let never = stream::pending::<Result<Bytes, Infallible>>();
        assert_eq!(post(to, client(), None, headers, never).await.status, 413);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_gets_408_after_the_body_timeout() {
        let (log, limit) = (memory(1), PostLimit::new(1, 1));
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        // One byte a second, for ever.
        let trickle = stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
        });
        let start = tokio::time::Instant::now();
        let reply = post(
            to,
            client(),
            None,
            json_headers("application/json"),
            trickle,
        )
        .await;
        assert_eq!(reply.status, 408, "{}", reply.json);
        assert_eq!(start.elapsed(), BODY_TIMEOUT);
    }

    #[tokio::test]
    async fn past_the_burst_a_client_gets_429_with_retry_after() {
        let (log, limit) = (memory(10), PostLimit::new(1, 2));
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        let body = valid_body;
        let headers = json_headers("application/json");
        for _ in 0..2 {
            assert_eq!(post(to, client(), None, headers, body()).await.status, 201);
        }
        let refused = post(to, client(), None, headers, body()).await;
        assert_eq!(refused.status, 429);
        assert!(
            refused.headers.contains(&("retry-after", "1".to_owned())),
            "{:?}",
            refused.headers
        );
        assert!(
            error_of(&refused).contains("too many posts"),
            "{}",
            refused.json
        );
        let other = ClientKey::of("127.0.0.2".parse().expect("an address"));
        assert_eq!(
            post(to, other, None, headers, body()).await.status,
            201,
            "others still post"
        );
    }

    #[tokio::test]
    async fn a_post_names_its_room_which_must_follow_the_rule() {
        let (log, limit) = (memory(10), PostLimit::new(1000, 1000));
        let to = Publisher {
            log: &log,
            limit: &limit,
            identity: None,
            cors: &Cors::SAME_HOST,
        };
        let body = valid_body;
        let headers = json_headers("application/json");
        let posted = post(to, client(), Some("news"), headers, body()).await;
        assert_eq!((posted.status, posted.json.as_str()), (201, r#"{"id":1}"#));
        for bad in ["News", "a b", "%41", "", &"x".repeat(33)] {
            let refused = post(to, client(), Some(bad), headers, body()).await;
            assert_eq!(refused.status, 400, "{bad:?}");
            assert!(error_of(&refused).contains("1 to 32 characters of a-z, 0-9, - and _"));
        }
        // Two rooms at most here, the lobby not yet one of them.
        assert_eq!(
            post(to, client(), Some("sport"), headers, body())
                .await
                .status,
            201
        );
        let full = post(to, client(), Some("music"), headers, body()).await;
        assert_eq!(full.status, 507, "{}", full.json);
        assert!(error_of(&full).contains("--max-rooms"), "{}", full.json);
        assert_eq!(
            post(to, client(), Some("news"), headers, body())
                .await
                .status,
            201
        );
    }

    #[tokio::test]
    async fn invisible_names_and_bidirectional_controls_are_refused() {
        // JSON escapes, so that the invisible characters can be seen here.
        let cases = [
            (r"\u200b\u200b", "b", r#""user" has no visible character"#),
            (r"\u3164", "b", r#""user" has no visible character"#),
            (
                r"ann\u202enib",
                "b",
                r#""user" holds the bidirectional control U+202E"#,
            ),
            (
                "ann",
                r"\u2066hi",
                r#""text" holds the bidirectional control U+2066"#,
            ),
            ("ann", r"\u200b", r#""text" has no visible character"#),
        ];
        for (user, text, words) in cases {
            let body = format!(r#"{{"user":"{user}","text":"{text}"}}"#);
            let reply = post_body("application/json", &body).await;
            assert_eq!(reply.status, 400, "{body}");
            assert!(error_of(&reply).contains(words), "{body}: {}", reply.json);
        }
        let arabic = r#"{"user":"سارة","text":"مرحبا (hello) שלום"}"#;
        assert_eq!(post_body("application/json", arabic).await.status, 201);
    }
}

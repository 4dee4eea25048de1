//! `POST /chat`: what a message must look like before it reaches the [`Hub`], and the answer
//! for each way it can be wrong. The same checks and the same words on all three servers.
//!
//! Tested by `cargo test -p sse-core chat`.

use std::fmt;
use std::ops::RangeInclusive;
use std::pin::pin;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::{Map, Value, json};

use crate::chat_log::{self, ChatLog};
use crate::cors;

/// The largest body accepted; a larger one is answered 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Characters in `user`, after trimming spaces.
pub const USER_CHARS: RangeInclusive<usize> = 1..=32;
/// Characters in `text`, which may hold newlines but not only spaces.
pub const TEXT_CHARS: RangeInclusive<usize> = 1..=2000;

/// The request headers `POST /chat` looks at, as the raw bytes the client sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatHeaders<'a> {
    /// `Content-Type`: must be `application/json`.
    pub content_type: Option<&'a [u8]>,
    /// `Origin`, sent by browsers: decides the cross-origin headers (see [`cors`]).
    pub origin: Option<&'a [u8]>,
    /// The host the request was sent to, which the origin is compared with: the `Host` header
    /// over HTTP/1.1, the URI's authority (`:authority`) over HTTP/2.
    pub host: Option<&'a [u8]>,
}

/// What `POST /chat` answers: a status, a JSON body (`Content-Type: application/json`), and
/// cross-origin headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReply {
    /// 201, 400, 413, 415 or 503.
    pub status: u16,
    /// `{"id":n}` on success, `{"error":"..."}` otherwise.
    pub json: String,
    /// `Vary: Origin`, `Access-Control-Allow-Origin` for a page on this server's host, and
    /// `Retry-After` with a 503.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a post was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// 415: the body is not declared as `application/json`. Refusing other types also keeps
    /// other sites' plain HTML forms from posting here (a form cannot send JSON).
    NotJson,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    TooLarge,
    /// 400: the body could not be read, is not JSON, or a field is missing or out of bounds.
    Invalid(String),
    /// 503: the message is fine, but the shared chat log (Redis) did not take it. Sent with
    /// `Retry-After`: the client may try again.
    Unavailable(String),
}

impl Refused {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotJson => 415,
            Self::TooLarge => 413,
            Self::Invalid(_) => 400,
            Self::Unavailable(_) => 503,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson => f.write_str("Content-Type must be application/json"),
            Self::TooLarge => write!(f, "the body is over {MAX_BODY_BYTES} bytes"),
            Self::Invalid(why) | Self::Unavailable(why) => f.write_str(why),
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

/// The whole of `POST /chat`, given the request's headers and its body as a stream of chunks
/// (every framework can hand over its body that way). The body is read only after the content
/// type passes, and only up to [`MAX_BODY_BYTES`].
pub async fn post<S, B, E>(log: &ChatLog, headers: ChatHeaders<'_>, body: S) -> ChatReply
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    let mut headers_out = cors::chat_headers(headers.origin, headers.host);
    let posted = async {
        check_content_type(headers.content_type)?;
        let body = read_body(body).await?;
        let message = parse_message(&body)?;
        log.publish(&message.user, &message.text)
            .await
            .map_err(|chat_log::Unavailable(why)| Refused::Unavailable(why))
    };
    let (status, json) = match posted.await {
        Ok(id) => {
            tracing::debug!(id, "chat message published");
            (201, json!({ "id": id }))
        }
        Err(refused) => {
            if let Refused::Unavailable(_) = refused {
                headers_out.push(("retry-after", chat_log::RETRY_AFTER_SECS.to_string()));
            }
            (refused.status(), json!({ "error": refused.to_string() }))
        }
    };
    ChatReply {
        status,
        json: json.to_string(),
        headers: headers_out,
    }
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

/// Collects the body, giving up as soon as it passes [`MAX_BODY_BYTES`] rather than buffering
/// whatever a client cares to send.
pub async fn read_body<S, B, E>(body: S) -> Result<BytesMut, Refused>
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
        if collected.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(Refused::TooLarge);
        }
        collected.put(chunk);
    }
    Ok(collected)
}

/// Checks `{"user": "...", "text": "..."}`; other fields are ignored.
pub fn parse_message(body: &[u8]) -> Result<NewMessage, Refused> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Invalid(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(Refused::Invalid(
            r#"the body must be a JSON object: {"user": "...", "text": "..."}"#.into(),
        ));
    };
    let user = string_field(&object, "user")?.trim();
    let user_chars = user.chars().count();
    if !USER_CHARS.contains(&user_chars) {
        return Err(Refused::Invalid(format!(
            r#""user" must be {} to {} characters after trimming spaces; it has {user_chars}"#,
            USER_CHARS.start(),
            USER_CHARS.end(),
        )));
    }
    let text = string_field(&object, "text")?;
    let text_chars = text.chars().count();
    if !TEXT_CHARS.contains(&text_chars) || text.trim().is_empty() {
        return Err(Refused::Invalid(format!(
            r#""text" must be {} to {} characters, not only spaces; it has {text_chars}"#,
            TEXT_CHARS.start(),
            TEXT_CHARS.end(),
        )));
    }
    Ok(NewMessage {
        user: user.to_owned(),
        text: text.to_owned(),
    })
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
    use crate::hub::Hub;
    use bytes::Bytes;
    use futures_util::stream;
    use std::convert::Infallible;
    use std::sync::Arc;

    async fn post_body(content_type: &str, body: &str) -> ChatReply {
        let log = ChatLog::Memory(Arc::new(Hub::new(10)));
        let chunks = stream::iter([Ok::<_, Infallible>(Bytes::copy_from_slice(body.as_bytes()))]);
        post(&log, json_headers(content_type), chunks).await
    }

    fn json_headers(content_type: &str) -> ChatHeaders<'_> {
        ChatHeaders {
            content_type: Some(content_type.as_bytes()),
            ..ChatHeaders::default()
        }
    }

    fn error_of(reply: &ChatReply) -> String {
        let value: Value = serde_json::from_str(&reply.json).expect("JSON reply");
        value["error"].as_str().expect("an error field").to_owned()
    }

    #[tokio::test]
    async fn a_valid_post_gets_201_and_its_id() {
        let reply = post_body("application/json", r#"{"user":" ann ","text":"hi\nthere"}"#).await;
        assert_eq!((reply.status, reply.json.as_str()), (201, r#"{"id":1}"#));
        let message = parse_message(br#"{"user":" ann ","text":" hi\nthere ","x":1}"#);
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
        assert_eq!(read_body(endless).await, Err(Refused::TooLarge));
        let exactly = stream::iter((0..4).map(|_| chunk()));
        assert_eq!(
            read_body(exactly).await.map(|b| b.len()),
            Ok(MAX_BODY_BYTES)
        );
        let hub = Arc::new(Hub::new(1));
        let reply = post(
            &ChatLog::Memory(Arc::clone(&hub)),
            json_headers("application/json"),
            stream::repeat_with(chunk),
        )
        .await;
        assert_eq!(reply.status, 413);
        assert_eq!(hub.newest_id(), 0, "nothing was published");
    }
}

//! `POST /v1/chat/completions`: what the body must hold, the subset of OpenAI's Chat Completions
//! request that the official clients send, and the error for each way it can be wrong, in
//! OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`), so that those clients
//! raise it as they would raise OpenAI's own.
//!
//! Tested by `cargo test -p sse-core answer_request`.

use std::ops::RangeInclusive;

use serde_json::{Map, Value, json};

use crate::chat::Refused;
use crate::reply::JsonReply;

/// The largest body accepted: a conversation is sent whole with every question.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `max_tokens` (or `max_completion_tokens`) must be in this range.
pub const MAX_TOKENS: RangeInclusive<u64> = 1..=4096;

/// The roles a message may have.
pub const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRequest {
    /// The model asked for, echoed in every chunk (the stand-in answers for any name).
    pub model: String,
    /// The last user message: what the answer is derived from.
    pub question: String,
    /// Words in every message, the stand-in's count of prompt tokens.
    pub prompt_words: usize,
    /// `"stream": true`: an event stream; otherwise one JSON object.
    pub stream: bool,
    /// At most this many tokens, then `"finish_reason": "length"`.
    pub max_tokens: Option<usize>,
    /// `"stream_options": {"include_usage": true}`: a last chunk with the token counts.
    pub include_usage: bool,
    /// `"stream_options": {"resumable": true}`: finished even if the client goes, and kept for
    /// `GET /v1/streams/{id}`.
    pub resumable: bool,
}

/// An error in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 400, 404, 408, 413, 415, 429 or 503.
    pub status: u16,
    /// What was wrong, in a sentence.
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `rate_limit_error` or `server_error`.
    pub kind: &'static str,
    /// The field at fault (`messages[1].role`), if one is.
    pub param: Option<String>,
    /// A short machine-readable code, if one fits.
    pub code: Option<&'static str>,
}

impl ApiError {
    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param.to_owned()),
            code: None,
        }
    }

    /// An error that names no field.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    /// With this `code`.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The answer: this status, `{"error": {...}}`, and `headers`.
    pub fn reply(&self, headers: Vec<(&'static str, String)>) -> JsonReply {
        let error = json!({
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        });
        JsonReply {
            status: self.status,
            json: json!({ "error": error }).to_string(),
            headers,
        }
    }
}

impl From<Refused> for ApiError {
    /// A body refused before it was parsed (its type, size or pace), in OpenAI's shape.
    fn from(refused: Refused) -> Self {
        let message = match &refused {
            Refused::TooLarge => format!("the body is over {MAX_BODY_BYTES} bytes"),
            other => other.to_string(),
        };
        let code = match refused {
            Refused::NotJson => Some("unsupported_media_type"),
            Refused::TooLarge => Some("request_too_large"),
            Refused::TooSlow => Some("request_timeout"),
            _ => None,
        };
        Self {
            status: refused.status(),
            message,
            kind: "invalid_request_error",
            param: None,
            code,
        }
    }
}

/// Checks a request body; fields this server has no use for (`temperature`, `n`...) are
/// ignored, as a stand-in should.
pub fn parse(body: &[u8]) -> Result<AnswerRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            "invalid_request_error",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(body) = value else {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            "the body must be a JSON object",
        ));
    };
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "model",
                "model must be a non-empty string",
            ));
        }
        None => return Err(ApiError::invalid("model", "model is required")),
    };
    let (question, prompt_words) = parse_messages(body.get("messages"))?;
    let stream = flag(&body, "stream", "stream")?;
    let max_tokens = parse_max_tokens(&body)?;
    let options = match body.get("stream_options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(_)) if !stream => {
            return Err(ApiError::invalid(
                "stream_options",
                "stream_options is only allowed with \"stream\": true",
            ));
        }
        Some(Value::Object(options)) => options.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "stream_options",
                "stream_options must be an object",
            ));
        }
    };
    Ok(AnswerRequest {
        model,
        question,
        prompt_words,
        stream,
        max_tokens,
        include_usage: flag(&options, "include_usage", "stream_options.include_usage")?,
        resumable: flag(&options, "resumable", "stream_options.resumable")?,
    })
}

/// The last user message's text, and the words of all of them.
fn parse_messages(messages: Option<&Value>) -> Result<(String, usize), ApiError> {
    let messages = match messages {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid("messages", "messages must not be empty"));
        }
        Some(_) => return Err(ApiError::invalid("messages", "messages must be an array")),
        None => return Err(ApiError::invalid("messages", "messages is required")),
    };
    let mut question = None;
    let mut words = 0;
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            let param = format!("messages[{i}]");
            return Err(ApiError::invalid(
                &param,
                format!("{param} must be an object"),
            ));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
            other => {
                let param = format!("messages[{i}].role");
                let shown = other.map_or("nothing".to_owned(), Value::to_string);
                let shown: String = shown.chars().take(40).collect();
                return Err(ApiError::invalid(
                    &param,
                    format!("{param} is {shown}: a role is one of {}", ROLES.join(", ")),
                ));
            }
        };
        let text = content_text(message.get("content"), i)?;
        words += text.split_whitespace().count();
        if role == "user" {
            question = Some(text);
        }
    }
    match question {
        Some(question) if !question.trim().is_empty() => Ok((question, words)),
        Some(_) => Err(ApiError::invalid(
            "messages",
            "the last user message is empty: there is nothing to answer",
        )),
        None => Err(ApiError::invalid(
            "messages",
            "messages holds no message with \"role\": \"user\": there is nothing to answer",
        )),
    }
}

/// A message's `content`: a string, an array of `{"type": "text", "text"}` parts (joined), or
/// absent (an assistant's tool call).
fn content_text(content: Option<&Value>, i: usize) -> Result<String, ApiError> {
    let param = || format!("messages[{i}].content");
    let bad = || {
        ApiError::invalid(
            &param(),
            format!("{} must be a string or an array of text parts", param()),
        )
    };
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let texts: Option<Vec<&str>> = parts
                .iter()
                .map(|part| match (part.get("type"), part.get("text")) {
                    (Some(Value::String(kind)), Some(Value::String(text))) if kind == "text" => {
                        Some(text.as_str())
                    }
                    _ => None,
                })
                .collect();
            texts.map(|texts| texts.join("\n")).ok_or_else(bad)
        }
        Some(_) => Err(bad()),
    }
}

/// `max_tokens`, or its newer name `max_completion_tokens`.
fn parse_max_tokens(body: &Map<String, Value>) -> Result<Option<usize>, ApiError> {
    for name in ["max_completion_tokens", "max_tokens"] {
        match body.get(name) {
            None | Some(Value::Null) => continue,
            Some(value) => {
                return match value.as_u64().filter(|n| MAX_TOKENS.contains(n)) {
                    Some(n) => Ok(usize::try_from(n).ok()),
                    None => Err(ApiError::invalid(
                        name,
                        format!(
                            "{name} is {value}: it must be a whole number from {} to {}",
                            MAX_TOKENS.start(),
                            MAX_TOKENS.end()
                        ),
                    )),
                };
            }
        }
    }
    Ok(None)
}

/// A boolean field, false when absent.
fn flag(object: &Map<String, Value>, name: &str, param: &str) -> Result<bool, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(ApiError::invalid(
            param,
            format!("{param} is {other}: it must be true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: &str) -> ApiError {
        parse(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn a_streamed_request_is_read_with_its_options() {
        let body = r#"{"model":"m","stream":true,"max_tokens":5,
            "messages":[{"role":"system","content":"be brief"},
                        {"role":"user","content":"first question"},
                        {"role":"assistant","content":"first answer"},
                        {"role":"user","content":[{"type":"text","text":"what now?"}]}],
            "stream_options":{"include_usage":true,"resumable":true},"temperature":0.2}"#;
        let request = parse(body.as_bytes()).expect("valid");
        assert_eq!(request.question, "what now?");
        assert_eq!(request.prompt_words, 8);
        assert!(request.stream && request.include_usage && request.resumable);
        assert_eq!(request.max_tokens, Some(5));
        let plain = parse(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
        let plain = plain.expect("valid");
        assert!(!plain.stream && !plain.resumable && plain.max_tokens.is_none());
    }

    #[test]
    fn each_fault_is_named_in_openai_s_shape() {
        let cases = [
            ("not json", None),
            ("[]", None),
            (
                r#"{"messages":[{"role":"user","content":"hi"}]}"#,
                Some("model"),
            ),
            (r#"{"model":"m"}"#, Some("messages")),
            (r#"{"model":"m","messages":[]}"#, Some("messages")),
            (
                r#"{"model":"m","messages":[{"role":"wizard","content":"hi"}]}"#,
                Some("messages[0].role"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"system","content":"hi"}]}"#,
                Some("messages"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
                Some("messages[0].content"),
            ),
            (
                r#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model":"m","max_completion_tokens":5000,"messages":[{"role":"user","content":"hi"}]}"#,
                Some("max_completion_tokens"),
            ),
            (
                r#"{"model":"m","stream":"yes","messages":[{"role":"user","content":"hi"}]}"#,
                Some("stream"),
            ),
            (
                r#"{"model":"m","stream_options":{"resumable":true},"messages":[{"role":"user","content":"hi"}]}"#,
                Some("stream_options"),
            ),
        ];
        for (body, param) in cases {
            let error = error(body);
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.param.as_deref(), param, "{body}: {}", error.message);
            let json: Value = serde_json::from_str(&error.reply(vec![]).json).expect("JSON");
            assert_eq!(json["error"]["type"], "invalid_request_error");
            assert_eq!(json["error"]["message"], error.message.as_str());
        }
        assert!(
            error(r#"{"model":"m","messages":[{"role":"wizard"}]}"#)
                .message
                .contains("a role is one of system, developer, user, assistant, tool")
        );
    }

    #[test]
    fn a_refused_body_keeps_its_status_and_gets_a_code() {
        let too_large = ApiError::from(Refused::TooLarge);
        assert_eq!(
            (too_large.status, too_large.code),
            (413, Some("request_too_large"))
        );
        assert!(too_large.message.contains("65536"), "{}", too_large.message);
        assert_eq!(ApiError::from(Refused::NotJson).status, 415);
    }
}

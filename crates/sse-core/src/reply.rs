//! The answer of every route that answers JSON (`POST /chat`, `/login`, `/logout`, `/me`, and a
//! stream refused for its token): a status, a body and headers, which each framework's glue
//! sends as they are.

use serde_json::json;

/// A JSON answer: `Content-Type: application/json`, this status, body and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonReply {
    /// The status, always one the core knows to be valid.
    pub status: u16,
    /// The body: `{"error":"..."}` for a refusal.
    pub json: String,
    /// Headers besides `Content-Type`: cross-origin ones, `Retry-After`, `Set-Cookie`,
    /// `WWW-Authenticate`.
    pub headers: Vec<(&'static str, String)>,
}

impl JsonReply {
    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str, headers: Vec<(&'static str, String)>) -> Self {
        Self {
            status,
            json: json!({ "error": message }).to_string(),
            headers,
        }
    }
}

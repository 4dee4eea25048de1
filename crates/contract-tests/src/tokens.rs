//! Tokens for the identity cases, minted here as an application would mint them (with
//! `jsonwebtoken`), and the forged ones the servers must refuse.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The `--auth-secret` of the identity cases.
pub const SECRET: &str = "the contract suite's secret, 32 bytes at least";

/// Seconds since 1970.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The claims of `sub`, opening `rooms`, posting wherever it reads, for `ttl_secs`.
pub fn claims(sub: &str, rooms: &[&str], ttl_secs: u64) -> Value {
    json!({ "sub": sub, "rooms": rooms, "publish": true, "exp": now() + ttl_secs })
}

/// `claims`, signed with HS256 and `secret`.
pub fn sign_with(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret).expect("an HMAC key");
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("signed")
}

/// `claims`, signed as the server expects.
pub fn sign(claims: &Value) -> String {
    sign_with(claims, Algorithm::HS256, SECRET.as_bytes())
}

/// A token for `sub` with `rooms`, valid for ten minutes.
pub fn token(sub: &str, rooms: &[&str]) -> String {
    sign(&claims(sub, rooms, 600))
}

/// `claims` with the header `{"alg":"none"}` and no signature, as an attacker writes it.
pub fn unsigned(claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = json!({ "alg": "none", "typ": "JWT" });
    format!("{}.{}.", part(&header), part(claims))
}

/// The `Cookie` header a browser sends with `token`.
pub fn cookie(token: &str) -> Vec<u8> {
    format!("theme=dark; sse_token={token}").into_bytes()
}

/// The `Authorization` header of `token`.
pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

//! The demo sign-in (`--demo-login`): `POST /login` takes a name and hands back a short-lived
//! token in the `sse_token` cookie, `POST /logout` takes the cookie back, and `GET /me` says
//! who the cookie (or `Authorization` header) is, for the page.
//!
//! It checks no password: anyone may sign in as anyone, with any private rooms. It stands in
//! for an application's own sign-in, which would decide the name and the rooms and mint the
//! same token (the book's chapter "Who may read what" shows how); everything after the
//! sign-in, the checks of every stream and post, is the real thing.
//!
//! Tested by `cargo test -p sse-core login`, and on each server by the contract suite.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::Buf;
use futures_util::Stream;
use serde::Serialize;
use serde_json::{Value, json};

use crate::chat::{self, PostHeaders, Refused};
use crate::client::ClientKey;
use crate::cors::Cors;
use crate::credentials::CookiePolicy;
use crate::identity::{self, Claims, Identity, Publish};
use crate::post_limit::{PostLimit, Poster};
use crate::reply::JsonReply;
use crate::room::{self, Room};

/// How long a demo token lasts when the sign-in does not say (`ttl_secs`).
pub const DEFAULT_TTL_SECS: u64 = 600;
/// The `ttl_secs` a sign-in may ask for: short, since nothing was checked.
pub const TTL_SECS: RangeInclusive<u64> = 10..=3600;

/// What the sign-in routes need from the server.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    /// `None` with identity off.
    pub identity: Option<&'a Identity>,
    /// `--demo-login`.
    pub demo_login: bool,
    /// How the cookie is written.
    pub cookie: CookiePolicy,
    /// Cross-origin headers (credentialed, with identity on).
    pub cors: &'a Cors,
    /// Sign-ins count as posts for `--post-rate`.
    pub limit: &'a PostLimit,
}

/// `GET /me`: who the request's token is, for the page.
#[derive(Debug, Serialize)]
pub struct Me {
    /// `off`, `optional` (public rooms need no token) or `required` (`--auth-required`).
    pub identity: &'static str,
    /// Whether `POST /login` works here (`--demo-login`).
    pub login: bool,
    /// The token's name, or `null` without a valid token.
    pub user: Option<String>,
    /// The private rooms the token opens.
    pub rooms: Vec<String>,
    /// Whether the token may post at all.
    pub may_post: bool,
    /// When the token expires, in seconds since 1970.
    pub exp: Option<u64>,
    /// Why a token that was sent is not accepted.
    pub problem: Option<String>,
}

impl Session<'_> {
    /// `GET /me`: always 200, saying who the request is.
    pub fn me(&self, headers: PostHeaders<'_>) -> JsonReply {
        let mut me = Me {
            identity: Identity::mode(self.identity),
            login: self.demo_login,
            user: None,
            rooms: Vec::new(),
            may_post: false,
            exp: None,
            problem: None,
        };
        if let Some(identity) = self.identity {
            let token = headers.credentials.token().map_err(|e| e.to_string());
            let user = token.and_then(|token| {
                let verified = token.map(|token| identity.verify(token));
                verified.transpose().map_err(|denied| denied.to_string())
            });
            match user {
                Ok(Some(user)) => {
                    me.rooms = user.private_rooms.iter().map(|r| r.to_string()).collect();
                    me.may_post = user.may_publish();
                    me.exp = Some(user.expires);
                    me.user = Some(user.name);
                }
                Ok(None) => {}
                Err(problem) => me.problem = Some(problem),
            }
        }
        let json = serde_json::to_string(&me).unwrap_or_default();
        self.reply(200, json, &headers)
    }

    /// `POST /logout`: the cookie, expired.
    pub fn logout(&self, headers: PostHeaders<'_>) -> JsonReply {
        if self.identity.is_none() {
            return self.not_here(&headers);
        }
        let mut reply = self.reply(200, json!({ "user": null }).to_string(), &headers);
        reply.headers.push(("set-cookie", self.cookie.clear()));
        reply
    }

    /// `POST /login` from `client`, with a JSON body `{"user": "...", "rooms": ["_ops"],
    /// "ttl_secs": 600}` (`rooms` and `ttl_secs` may be left out): 200 with the token in the
    /// cookie, or the same refusals as a chat post.
    pub async fn login<S, B, E>(
        &self,
        client: ClientKey,
        headers: PostHeaders<'_>,
        body: S,
    ) -> JsonReply
    where
        S: Stream<Item = Result<B, E>>,
        B: Buf,
        E: fmt::Display,
    {
        let Some(identity) = self.identity.filter(|_| self.demo_login) else {
            return self.not_here(&headers);
        };
        let signed_in = async {
            chat::check_json_head(&headers, chat::MAX_BODY_BYTES)?;
            self.limit
                .check(&Poster::Address(client))
                .map_err(Refused::TooMany)?;
            let body = chat::read_body_in_time(body, chat::MAX_BODY_BYTES).await?;
            let claims = parse_login(&body).map_err(Refused::Invalid)?;
            let token = identity
                .mint(&claims)
                .ok_or_else(|| Refused::Invalid("this server cannot sign tokens".into()))?;
            Ok::<_, Refused>((claims, token))
        };
        match signed_in.await {
            Ok((claims, token)) => {
                let ttl = Duration::from_secs(claims.exp.saturating_sub(identity::now_secs()));
                let json = json!({ "user": claims.sub, "rooms": claims.rooms, "exp": claims.exp });
                let mut reply = self.reply(200, json.to_string(), &headers);
                reply
                    .headers
                    .push(("set-cookie", self.cookie.set(&token, ttl)));
                reply
            }
            Err(refused) => self.error(refused.status(), &refused.to_string(), &headers),
        }
    }

    fn reply(&self, status: u16, json: String, headers: &PostHeaders<'_>) -> JsonReply {
        let mut out = self.cors.post_headers(headers.origin, headers.host);
        out.push(("cache-control", "no-store".to_owned()));
        JsonReply {
            status,
            json,
            headers: out,
        }
    }

    fn not_here(&self, headers: &PostHeaders<'_>) -> JsonReply {
        let message = "this server has no demo sign-in: start it with --auth-secret and \
                       --demo-login";
        self.error(404, message, headers)
    }

    fn error(&self, status: u16, message: &str, headers: &PostHeaders<'_>) -> JsonReply {
        let cors = self.cors.post_headers(headers.origin, headers.host);
        JsonReply::error(status, message, cors)
    }
}

/// The claims a sign-in body asks for: a checked name, rooms that are room names, a
/// `ttl_secs` in [`TTL_SECS`]; the token may post wherever it may read.
fn parse_login(body: &[u8]) -> Result<Claims, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let name = match &value["user"] {
        Value::String(name) => chat::check_user(name, "user")?,
        _ => return Err(r#""user" must be a string: {"user": "alice"}"#.into()),
    };
    let rooms = match &value["rooms"] {
        Value::Null => Vec::new(),
        Value::Array(rooms) if rooms.len() <= room::MAX_PER_STREAM => rooms
            .iter()
            .map(|room| room.as_str().and_then(Room::parse).map(|r| r.to_string()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!(r#""rooms" must hold room names: {}"#, room::NAME_RULE))?,
        _ => return Err(r#""rooms" must be a list of at most 16 room names"#.into()),
    };
    let ttl = match &value["ttl_secs"] {
        Value::Null => DEFAULT_TTL_SECS,
        ttl => ttl
            .as_u64()
            .filter(|t| TTL_SECS.contains(t))
            .ok_or_else(|| {
                format!(
                    r#""ttl_secs" must be a whole number from {} to {}"#,
                    TTL_SECS.start(),
                    TTL_SECS.end()
                )
            })?,
    };
    Ok(Claims {
        sub: name,
        exp: identity::now_secs() + ttl,
        nbf: None,
        aud: None,
        rooms,
        publish: Publish::Readable(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_names_a_user_rooms_and_a_short_life() {
        let claims = parse_login(br#"{"user":" alice ","rooms":["_ops"],"ttl_secs":60}"#);
        let claims = claims.expect("valid");
        assert_eq!(
            (claims.sub.as_str(), &claims.rooms[..]),
            ("alice", &["_ops".to_owned()][..])
        );
        assert!(claims.exp <= identity::now_secs() + 60);
        assert_eq!(
            parse_login(br#"{"user":"bob"}"#).expect("valid").rooms,
            Vec::<String>::new()
        );
        for (bad, words) in [
            (&br#"{"rooms":[]}"#[..], r#""user" must be a string"#),
            (br#"{"user":"a","rooms":["Ops!"]}"#, "room names"),
            (br#"{"user":"a","ttl_secs":5}"#, "10 to 3600"),
            (br#"{"user":"a","ttl_secs":"60"}"#, "10 to 3600"),
            (br#"{"user":"   "}"#, "1 to 32"),
            (b"nope", "not valid JSON"),
        ] {
            let why = parse_login(bad).expect_err("refused");
            assert!(why.contains(words), "{why}");
        }
    }
}

//! Who a request is, from a signed token (a JWT), and what that lets it read and post. Off unless
//! the server is started with `--auth-secret` (HS256) or `--auth-public-key` (EdDSA or RS256,
//! for tokens minted elsewhere).
//!
//! A token is checked by `jsonwebtoken`, with the algorithm the server's key says: the token's
//! own `alg` header is only compared with it, never obeyed, so neither `alg: none` nor a token
//! signed with HS256 using an RSA *public* key as its secret (the HS/RS confusion) can pass.
//! `exp` and `sub` are required, `nbf` is honoured, and a clock leeway of `--auth-leeway-secs`
//! (5) is allowed both ways. With `--auth-audience AUD` the token's `aud` must name AUD; without
//! it, a token that names any audience is refused, since it was meant for something else.
//!
//! The claims of this project (`rooms`, `publish`) are read by [`Claims`]; the book's chapter
//! "Who may read what" says how an application mints them.
//!
//! Tested by `cargo test -p sse-core identity`, and on each server by the contract suite.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::chat;
use crate::credentials::{self, Credentials};
use crate::options::Options;
use crate::room::{self, Room};

/// The shortest `--auth-secret`: HS256 is only as strong as its key, and RFC 7518 asks for at
/// least the hash's 32 bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims of a token: the registered ones this project needs, and its own two.
///
/// `sub` and `exp` are required, but read with a default: `jsonwebtoken` reads the claims before
/// it checks them, and a missing one should be refused by its check, which names it, rather than
/// by serde's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the holder is: the name the chat shows on their messages.
    #[serde(default)]
    pub sub: String,
    /// When the token stops being valid, in seconds since 1970 (required).
    #[serde(default)]
    pub exp: u64,
    /// When it starts being valid, if later than its minting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Whom the token is for (`--auth-audience`). Read and checked by `jsonwebtoken`; kept here
    /// for minting only.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub aud: Option<String>,
    /// The private rooms (names starting with `_`) the holder may follow, replay and post to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
    /// Whether the holder may post: `true` to every room it may read, a list for those rooms
    /// only, `false` or absent for none.
    #[serde(default)]
    pub publish: Publish,
}

/// The `publish` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Publish {
    /// `true`: every room the token may read; `false`: none.
    Readable(bool),
    /// These rooms (a private one only if `rooms` names it too).
    Rooms(Vec<String>),
}

impl Default for Publish {
    fn default() -> Self {
        Self::Readable(false)
    }
}

/// Where a user may post: the `publish` claim, read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PostsTo {
    /// `false` or absent.
    Nowhere,
    /// `true`: every room it may read.
    Readable,
    /// A list: these rooms, among those it may read.
    Only(Vec<Room>),
}

/// A verified token's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `sub` claim, checked as a chat name is.
    pub name: String,
    /// The private rooms it opens.
    pub private_rooms: Vec<Room>,
    /// Where it may post, from the `publish` claim.
    posts_to: PostsTo,
    /// When its token expires (`exp`), in seconds since 1970.
    pub expires: u64,
}

impl User {
    /// Whether this user may follow and replay `room`: any public room, and the private rooms
    /// of its token.
    pub fn may_read(&self, room: &Room) -> bool {
        !room.is_private() || self.private_rooms.contains(room)
    }

    /// Whether this user may post to `room`.
    pub fn may_post(&self, room: &Room) -> bool {
        let listed = match &self.posts_to {
            PostsTo::Nowhere => false,
            PostsTo::Readable => true,
            PostsTo::Only(rooms) => rooms.contains(room),
        };
        listed && self.may_read(room)
    }

    /// Whether the token's `publish` claim lets it post anywhere.
    pub fn may_publish(&self) -> bool {
        self.posts_to != PostsTo::Nowhere
    }
}

/// Why a request was not let through: answered with the status and a JSON error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no token where one is needed, or one that does not verify. Sent with
    /// `WWW-Authenticate: Bearer`.
    Unauthenticated(String),
    /// 403: a valid token that does not open this.
    Forbidden(String),
    /// 400: a token in the URL (see [`credentials`]).
    TokenInUrl(&'static str),
}

impl Denied {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) => 403,
            Self::TokenInUrl(_) => 400,
        }
    }

    /// The headers besides `Content-Type`: RFC 6750's challenge on a 401.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Unauthenticated(_) => vec![("www-authenticate", r#"Bearer realm="sse""#.into())],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthenticated(why) | Self::Forbidden(why) => f.write_str(why),
            Self::TokenInUrl(parameter) => {
                f.write_str(&credentials::token_in_query_message(parameter))
            }
        }
    }
}

/// A public key for `--auth-public-key`, read from a PEM file at start.
#[derive(Clone)]
pub struct PublicKey {
    /// EdDSA (an Ed25519 key) or RS256 (an RSA key).
    pub algorithm: Algorithm,
    key: Arc<DecodingKey>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?})", self.algorithm)
    }
}

/// Reads `--auth-public-key PATH`: an Ed25519 or an RSA public key in PEM.
pub fn read_public_key(path: &str) -> Result<PublicKey, String> {
    let pem = std::fs::read(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))?;
    let (algorithm, key) = match DecodingKey::from_ed_pem(&pem) {
        Ok(key) => (Algorithm::EdDSA, key),
        Err(_) => match DecodingKey::from_rsa_pem(&pem) {
            Ok(key) => (Algorithm::RS256, key),
            Err(_) => {
                return Err(format!(
                    "{path} holds neither an Ed25519 nor an RSA public key in PEM"
                ));
            }
        },
    };
    Ok(PublicKey {
        algorithm,
        key: Arc::new(key),
    })
}

/// Checks `--auth-secret`: at least [`MIN_SECRET_BYTES`].
pub fn check_secret(secret: &str) -> Result<String, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "an HS256 secret needs at least {MIN_SECRET_BYTES} bytes (it has {}): try \
             `openssl rand -base64 32`",
            secret.len()
        ));
    }
    Ok(secret.to_owned())
}

/// The server's key, what it checks in a token, and whether a token is required.
pub struct Identity {
    key: Arc<DecodingKey>,
    signer: Option<EncodingKey>,
    validation: Validation,
    algorithm: Algorithm,
    audience: Option<String>,
    required: bool,
}

impl Identity {
    /// Identity as the options ask: `None` without `--auth-secret` or `--auth-public-key`.
    pub fn from_options(options: &Options) -> Option<Self> {
        let (algorithm, key, signer) = match (&options.auth_secret, &options.auth_public_key) {
            (Some(secret), _) => {
                let decoding = DecodingKey::from_secret(secret.as_bytes()).ok()?;
                let signer = EncodingKey::from_secret(secret.as_bytes()).ok();
                (Algorithm::HS256, Arc::new(decoding), signer)
            }
            (None, Some(public)) => (public.algorithm, Arc::clone(&public.key), None),
            (None, None) => return None,
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = options.auth_leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(audience) = &options.auth_audience {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        }
        Some(Self {
            key,
            signer,
            validation,
            algorithm,
            audience: options.auth_audience.clone(),
            required: options.auth_required,
        })
    }

    /// How long from now until `user`'s token stops being accepted: the first second after
    /// its `exp` and the leeway, which is when [`Identity::verify`] starts refusing it (so a
    /// reconnect with the same token cannot slip in between).
    pub fn time_left(&self, user: &User) -> Duration {
        let until = UNIX_EPOCH + Duration::from_secs(user.expires + 1 + self.validation.leeway);
        until
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// The name of the identity mode, for `/health` and `/me`: `off` without identity,
    /// `required` with `--auth-required`, else `optional`.
    pub fn mode(identity: Option<&Self>) -> &'static str {
        match identity {
            None => "off",
            Some(identity) if identity.required => "required",
            Some(_) => "optional",
        }
    }

    /// The holder of `credentials`' token: `None` without a token, an error for one that does
    /// not verify, or that sits in the URL.
    pub fn user(
        &self,
        credentials: Credentials<'_>,
        query: Option<&str>,
    ) -> Result<Option<User>, Denied> {
        if let Some(parameter) = credentials::token_in_query(query) {
            return Err(Denied::TokenInUrl(parameter));
        }
        let token = credentials
            .token()
            .map_err(|e| Denied::Unauthenticated(e.to_string()))?;
        let user = token.map(|token| self.verify(token)).transpose()?;
        if user.is_none() && self.required {
            return Err(Denied::Unauthenticated(
                "this server needs a token (--auth-required): sign in, or send one in the \
                 sse_token cookie or an Authorization: Bearer header"
                    .into(),
            ));
        }
        Ok(user)
    }

    /// Who a stream of `rooms` is for, and whether its token opens them. A cookie that does not
    /// verify (left by a server with another secret, say) is read as no token on a stream of
    /// public rooms: a stale cookie never locks a browser out of what anyone may read. A Bearer
    /// header that does not verify is refused, since its sender chose it.
    pub fn stream_user(
        &self,
        credentials: Credentials<'_>,
        query: Option<&str>,
        rooms: &[Room],
    ) -> Result<Option<User>, Denied> {
        let public = !self.required && rooms.iter().all(|room| !room.is_private());
        let user = match self.user(credentials, query) {
            Err(Denied::Unauthenticated(_)) if public && credentials.authorization.is_none() => {
                None
            }
            user => user?,
        };
        self.may_follow(user.as_ref(), rooms)?;
        Ok(user)
    }

    /// Whether `user` may follow every room of `rooms`.
    pub fn may_follow(&self, user: Option<&User>, rooms: &[Room]) -> Result<(), Denied> {
        let Some(private) = rooms.iter().find(|room| room.is_private()) else {
            return Ok(());
        };
        match user {
            None => Err(Denied::Unauthenticated(format!(
                "the room {private} is private: it needs a token that names it in its rooms claim"
            ))),
            Some(user) => match rooms.iter().find(|room| !user.may_read(room)) {
                Some(closed) => Err(Denied::Forbidden(format!(
                    "your token does not open the private room {closed}: its rooms claim \
                     names {:?}",
                    names(&user.private_rooms)
                ))),
                None => Ok(()),
            },
        }
    }

    /// The user a post to `room` is written by: posting needs a token whose `publish` claim
    /// allows the room.
    pub fn may_post(&self, user: Option<User>, room: &Room) -> Result<User, Denied> {
        let Some(user) = user else {
            return Err(Denied::Unauthenticated(
                "posting needs a token: sign in, or send one in the sse_token cookie or an \
                 Authorization: Bearer header"
                    .into(),
            ));
        };
        if !user.may_post(room) {
            let why = if !user.may_read(room) {
                format!("your token does not open the private room {room}")
            } else if !user.may_publish() {
                "your token may read but not post: its publish claim is false or absent".into()
            } else {
                format!("your token's publish claim does not name the room {room}")
            };
            return Err(Denied::Forbidden(why));
        }
        Ok(user)
    }

    /// Checks a token, and reads its holder.
    pub fn verify(&self, token: &str) -> Result<User, Denied> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| Denied::Unauthenticated(self.explain(token, e.kind())))?;
        user_of(data.claims)
    }

    /// A token for `claims`, signed with `--auth-secret` (the demo sign-in): `None` with a
    /// public key, which can only check.
    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let claims = Claims {
            aud: self.audience.clone(),
            ..claims.clone()
        };
        let signer = self.signer.as_ref()?;
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, signer).ok()
    }

    /// What was wrong with a token, in words a developer can act on.
    fn explain(&self, token: &str, kind: &ErrorKind) -> String {
        let expected = format!("{:?}", self.algorithm);
        match kind {
            ErrorKind::ExpiredSignature => "the token has expired: sign in again".into(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (its nbf is later)".into(),
            ErrorKind::InvalidSignature => "the token's signature does not match this \
                server's key: it was signed by another key, or changed"
                .into(),
            _ if jsonwebtoken::decode_header(token).is_err() && token.split('.').count() == 3 => {
                format!(
                    "the token's header names no algorithm this server accepts (alg none never \
                     is); this server accepts {expected} only"
                )
            }
            ErrorKind::InvalidAlgorithm => {
                let named = jsonwebtoken::decode_header(token)
                    .map_or_else(|_| "another algorithm".into(), |h| format!("{:?}", h.alg));
                format!("the token is signed with {named}; this server accepts {expected} only")
            }
            ErrorKind::InvalidAudience => match &self.audience {
                Some(audience) => {
                    format!("the token is not for this server: its aud must be {audience:?}")
                }
                None => "the token names an audience (aud), and this server has none \
                         (--auth-audience): it was meant for something else"
                    .into(),
            },
            ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
            ErrorKind::InvalidClaimFormat(claim) => {
                format!("the token's {claim} claim is malformed")
            }
            ErrorKind::Json(e) => format!("the token's claims are not as expected: {e}"),
            _ => "the token is not a JWT: three base64url parts joined by dots".into(),
        }
    }
}

/// The user of checked claims: `sub` must be a name the chat would show, and every room a room.
fn user_of(claims: Claims) -> Result<User, Denied> {
    let bad = |why: String| Denied::Unauthenticated(why);
    let name = chat::check_user(&claims.sub, "sub").map_err(|e| bad(e.to_string()))?;
    let parse = |claim: &str, names: &[String]| -> Result<Vec<Room>, Denied> {
        names
            .iter()
            .map(|name| {
                Room::parse(name).ok_or_else(|| {
                    bad(format!(
                        "the token's {claim} claim holds {name:?}, which is not a room name ({})",
                        room::NAME_RULE
                    ))
                })
            })
            .collect()
    };
    let private_rooms = parse("rooms", &claims.rooms)?;
    let posts_to = match &claims.publish {
        Publish::Readable(false) => PostsTo::Nowhere,
        Publish::Readable(true) => PostsTo::Readable,
        Publish::Rooms(rooms) => PostsTo::Only(parse("publish", rooms)?),
    };
    Ok(User {
        name,
        private_rooms,
        posts_to,
        expires: claims.exp,
    })
}

fn names(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(Room::as_str).collect()
}

/// Seconds since 1970, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Framework;

    const SECRET: &str = "a secret of thirty-two bytes or more!";

    fn identity(extra: &str) -> Identity {
        let args = format!("server-axum --auth-secret {SECRET:?} {extra}");
        let args = shell_words(&args);
        let options = Options::try_parse_for(Framework::AXUM, args).expect("valid options");
        Identity::from_options(&options).expect("identity on")
    }

    /// Splits on spaces outside double quotes (enough for these tests).
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = vec![String::new()];
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => words.push(String::new()),
                c => words.last_mut().expect("one word").push(c),
            }
        }
        words.retain(|w| !w.is_empty());
        words
    }

    fn claims(sub: &str) -> Claims {
        Claims {
            sub: sub.into(),
            exp: now_secs() + 600,
            nbf: None,
            aud: None,
            rooms: vec!["_ops".into()],
            publish: Publish::Readable(true),
        }
    }

    fn sign(claims: &serde_json::Value, header: &Header, secret: &str) -> String {
        let key = EncodingKey::from_secret(secret.as_bytes()).expect("a key");
        jsonwebtoken::encode(header, claims, &key).expect("signed")
    }

    fn refusal(identity: &Identity, token: &str) -> String {
        match identity.verify(token) {
            Err(Denied::Unauthenticated(why)) => why,
            other => panic!("expected 401, got {other:?}"),
        }
    }

    #[test]
    fn a_minted_token_verifies_and_opens_its_rooms() {
        let identity = identity("");
        let token = identity.mint(&claims("alice")).expect("HS256 mints");
        let user = identity.verify(&token).expect("valid");
        assert_eq!(user.name, "alice");
        let ops = Room::parse("_ops").expect("a room");
        let dev = Room::parse("_dev").expect("a room");
        assert!(user.may_read(&ops) && user.may_post(&ops) && user.may_post(&Room::lobby()));
        assert!(!user.may_read(&dev));
        assert_eq!(
            identity.may_follow(Some(&user), &[Room::lobby(), dev.clone()]),
            Err(Denied::Forbidden(
                r#"your token does not open the private room _dev: its rooms claim names ["_ops"]"#
                    .into()
            ))
        );
        assert!(matches!(
            identity.may_follow(None, &[ops]),
            Err(Denied::Unauthenticated(_))
        ));
        assert_eq!(identity.may_follow(None, &[Room::lobby()]), Ok(()));
    }

    #[test]
    fn forged_swapped_and_unsigned_tokens_are_refused_with_the_reason() {
        let identity = identity("");
        let good = serde_json::to_value(claims("alice")).expect("JSON");
        let forged = sign(
            &good,
            &Header::new(Algorithm::HS256),
            "another secret, also 32 bytes long",
        );
        assert!(refusal(&identity, &forged).contains("signature does not match"));
        let hs512 = sign(&good, &Header::new(Algorithm::HS512), SECRET);
        assert!(
            refusal(&identity, &hs512)
                .contains("signed with HS512; this server accepts HS256 only")
        );
        // alg: none, written by hand: no library signs that.
        let b64 = |v: &str| base64_url(v.as_bytes());
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&good.to_string())
        );
        assert!(refusal(&identity, &none).contains("alg none never is"));
        assert!(refusal(&identity, "not-a-token").contains("not a JWT"));
    }

    /// base64url without padding, as JWTs are written.
    fn base64_url(bytes: &[u8]) -> String {
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn time_audience_and_claims_are_checked() {
        let identity = identity("--auth-leeway-secs 0");
        let header = Header::new(Algorithm::HS256);
        let mut expired = serde_json::to_value(claims("alice")).expect("JSON");
        expired["exp"] = (now_secs() - 10).into();
        assert!(refusal(&identity, &sign(&expired, &header, SECRET)).contains("expired"));
        let mut early = serde_json::to_value(claims("alice")).expect("JSON");
        early["nbf"] = (now_secs() + 60).into();
        assert!(refusal(&identity, &sign(&early, &header, SECRET)).contains("not valid yet"));
        let mut other = serde_json::to_value(claims("alice")).expect("JSON");
        other["aud"] = "payments".into();
        assert!(refusal(&identity, &sign(&other, &header, SECRET)).contains("audience"));
        let no_exp = serde_json::json!({"sub": "alice"});
        assert!(refusal(&identity, &sign(&no_exp, &header, SECRET)).contains("no exp claim"));
        let no_sub = serde_json::json!({"exp": now_secs() + 60});
        assert!(refusal(&identity, &sign(&no_sub, &header, SECRET)).contains("no sub claim"));
        let mut bad_room = serde_json::to_value(claims("alice")).expect("JSON");
        bad_room["rooms"] = serde_json::json!(["Ops!"]);
        assert!(refusal(&identity, &sign(&bad_room, &header, SECRET)).contains("not a room name"));
        let mut bidi = serde_json::to_value(claims("alice")).expect("JSON");
        bidi["sub"] = "ann\u{202E}nib".into();
        assert!(refusal(&identity, &sign(&bidi, &header, SECRET)).contains("bidirectional"));
        let with_audience = self::identity("--auth-audience sse");
        let mut ours = serde_json::to_value(claims("alice")).expect("JSON");
        ours["aud"] = "sse".into();
        assert!(with_audience.verify(&sign(&ours, &header, SECRET)).is_ok());
        let plain = serde_json::to_value(claims("alice")).expect("JSON");
        assert!(refusal(&with_audience, &sign(&plain, &header, SECRET)).contains("no aud claim"));
    }

    #[test]
    fn publish_decides_where_a_token_may_post() {
        let identity = identity("");
        let read_only = Claims {
            publish: Publish::Readable(false),
            ..claims("bob")
        };
        let user = identity
            .verify(&identity.mint(&read_only).expect("minted"))
            .expect("valid");
        let refused = identity.may_post(Some(user), &Room::lobby());
        assert!(
            matches!(refused, Err(Denied::Forbidden(why)) if why.contains("may read but not post"))
        );
        let news_only = Claims {
            publish: Publish::Rooms(vec!["news".into()]),
            ..claims("bob")
        };
        let user = identity
            .verify(&identity.mint(&news_only).expect("minted"))
            .expect("valid");
        let news = Room::parse("news").expect("a room");
        assert_eq!(
            identity.may_post(Some(user.clone()), &news).map(|u| u.name),
            Ok("bob".into())
        );
        assert!(matches!(
            identity.may_post(Some(user), &Room::lobby()),
            Err(Denied::Forbidden(_))
        ));
        assert!(matches!(
            identity.may_post(None, &news),
            Err(Denied::Unauthenticated(_))
        ));
    }

    #[test]
    fn a_stale_cookie_reads_the_public_rooms_and_nothing_else() {
        let identity = identity("");
        let stale = sign(
            &serde_json::to_value(claims("alice")).expect("JSON"),
            &Header::new(Algorithm::HS256),
            "the secret of yesterday's server, 32 bytes",
        );
        let cookie = format!("sse_token={stale}");
        let from_cookie = Credentials::from_lines(None, [cookie.as_bytes()]);
        assert_eq!(
            identity.stream_user(from_cookie, None, &[Room::lobby()]),
            Ok(None)
        );
        let ops = Room::parse("_ops").expect("a room");
        assert!(identity.stream_user(from_cookie, None, &[ops]).is_err());
        let bearer = format!("Bearer {stale}");
        let from_header = Credentials::from_lines(Some(bearer.as_bytes()), []);
        assert!(
            identity
                .stream_user(from_header, None, &[Room::lobby()])
                .is_err()
        );
    }

    #[test]
    fn a_token_in_the_url_is_refused_and_required_means_required() {
        let identity = self::identity("--auth-required");
        let none = Credentials::default();
        assert_eq!(
            identity.user(none, Some("access_token=abc")),
            Err(Denied::TokenInUrl("access_token"))
        );
        assert!(matches!(
            identity.user(none, None),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(check_secret("short").is_err());
    }
}

//! The identity cases of the contract: servers started with `--auth-secret` (or
//! `--auth-public-key`) check every token the same way, keep private rooms to their tokens'
//! holders, sign posts with the token's name, end a stream when its token expires, and hand a
//! browser its token in an `HttpOnly` cookie.

use std::time::Duration;

use hyper::{Method, StatusCode};
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::client::{Events, Response, Server, Target};
use crate::foreign;
use crate::rooms::{assert_quiet, room_message};
use crate::services::TempDir;
use crate::tokens::{self, SECRET, bearer, claims, cookie, now, sign, sign_with, token, unsigned};

const JSON: (&str, &[u8]) = ("content-type", b"application/json");

/// A request's status and its JSON body's `error`.
async fn refusal(response: Response) -> (StatusCode, Option<String>, String) {
    let (status, challenge) = (response.status(), response.header("www-authenticate"));
    let challenge = challenge.map(str::to_owned);
    let body = response.text().await;
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let error = value["error"].as_str().unwrap_or(&body).to_owned();
    (status, challenge, error)
}

/// Posts `{"user": "mallory", "text": text}` to `path` with these token headers.
async fn post(server: &Server, path: &str, auth: &[(&str, &[u8])], text: &str) -> Response {
    let body = serde_json::json!({ "user": "mallory", "text": text }).to_string();
    let mut headers = vec![JSON];
    headers.extend_from_slice(auth);
    server.send(Method::POST, path, &headers, body.into()).await
}

/// Opens the chat stream at `path` with a cookie of `token`, asserting 200.
async fn follow(server: &Server, path: &str, token: &str, last_event_id: &str) -> Events {
    let fw = server.framework;
    let cookie = cookie(token);
    let mut headers = vec![("cookie", &cookie[..])];
    if !last_event_id.is_empty() {
        headers.push(("last-event-id", last_event_id.as_bytes()));
    }
    let response = server.request(Method::GET, path, &headers).await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}] GET {path}");
    response.events()
}

/// Every way a token can be wrong gets 401, `WWW-Authenticate: Bearer` and a message naming
/// the fault, on a stream and on a post, in the cookie and in the header; a token in the URL
/// gets 400 saying why; a public key pins its own algorithm.
pub async fn identity_tokens_that_do_not_verify_get_401_naming_why(target: Target) {
    let args = [
        "--auth-secret",
        SECRET,
        "--auth-audience",
        "sse",
        "--auth-leeway-secs",
        "0",
    ];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let mut good = claims("alice", &["_ops"], 600);
    good["aud"] = "sse".into();
    let changed = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut claims = good.clone();
        change(claims.as_object_mut().expect("an object"));
        sign(&claims)
    };
    let forged: [(String, &str); 9] = [
        (
            sign_with(&good, Algorithm::HS256, b"some other secret of 32 bytes!!"),
            "signature does not match",
        ),
        (unsigned(&good), "alg none never is"),
        (
            sign_with(&good, Algorithm::HS384, SECRET.as_bytes()),
            "signed with HS384; this server accepts HS256 only",
        ),
        (
            changed(&|c| {
                c.insert("exp".into(), (now() - 30).into());
            }),
            "expired",
        ),
        (
            changed(&|c| {
                c.insert("nbf".into(), (now() + 600).into());
            }),
            "not valid yet",
        ),
        (
            changed(&|c| {
                c.insert("aud".into(), "payments".into());
            }),
            r#"its aud must be "sse""#,
        ),
        (
            changed(&|c| {
                c.remove("exp");
            }),
            "no exp claim",
        ),
        (
            changed(&|c| {
                c.remove("sub");
            }),
            "no sub claim",
        ),
        ("not-a-jwt".into(), "not a JWT"),
    ];
    for (token, words) in &forged {
        let (cookie, bearer) = (cookie(token), bearer(token));
        for auth in [("cookie", &cookie[..]), ("authorization", &bearer[..])] {
            let stream = server
                .request(Method::GET, "/events/chat?rooms=_ops", &[auth])
                .await;
            let posted = post(&server, "/chat", &[auth], "hi").await;
            for (what, response) in [("stream", stream), ("post", posted)] {
                let (status, challenge, error) = refusal(response).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "[{fw}] {what} {words}: {error}"
                );
                assert!(
                    challenge.is_some_and(|c| c.starts_with("Bearer")),
                    "[{fw}] {what}"
                );
                assert!(
                    error.contains(words),
                    "[{fw}] {what}: {error:?} should say {words:?}"
                );
            }
        }
    }
    let in_url = format!("/events/chat?access_token={}", sign(&good));
    let (status, _, error) = refusal(server.get(&in_url).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "[{fw}] {error}");
    assert!(
        error.contains("RFC 9700") && error.contains("cookie"),
        "[{fw}] {error}"
    );
    let ok = bearer(&sign(&good));
    let posted = post(&server, "/chat", &[("authorization", &ok[..])], "signed").await;
    assert_eq!(
        posted.status(),
        StatusCode::CREATED,
        "[{fw}] a good token posts"
    );
    let (status, _, error) = refusal(post(&server, "/login", &[], "").await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "[{fw}] /login without --demo-login"
    );
    assert!(error.contains("--demo-login"), "[{fw}] {error}");
    a_public_key_pins_its_algorithm(target).await;
}

/// With `--auth-public-key`, a token signed with HS256 using the public key as the secret (the
/// HS/RS confusion) is refused; one signed with the private key passes.
async fn a_public_key_pins_its_algorithm(target: Target) {
    let fw = target.framework;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("an Ed25519 key");
    let dir = TempDir::new("auth-key");
    let public = dir.path().join("public.pem");
    std::fs::write(&public, key.public_key_pem()).expect("the key written");
    let path = public.to_str().expect("a UTF-8 path");
    let server = Server::start(target, &["--auth-public-key", path]).await;
    let good = claims("alice", &[], 600);
    let private = jsonwebtoken::EncodingKey::from_ed_pem(key.serialize_pem().as_bytes());
    let header = jsonwebtoken::Header::new(Algorithm::EdDSA);
    let signed = jsonwebtoken::encode(&header, &good, &private.expect("a signing key"));
    let signed = bearer(&signed.expect("signed"));
    let posted = post(&server, "/chat", &[("authorization", &signed[..])], "eddsa").await;
    assert_eq!(
        posted.status(),
        StatusCode::CREATED,
        "[{fw}] an EdDSA token posts"
    );
    let confused = sign_with(&good, Algorithm::HS256, key.public_key_pem().as_bytes());
    let confused = bearer(&confused);
    let (status, _, error) =
        refusal(post(&server, "/chat", &[("authorization", &confused[..])], "x").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "[{fw}] {error}");
    assert!(
        error.contains("this server accepts EdDSA only"),
        "[{fw}] {error}"
    );
}

/// A private room is followed, replayed and posted to only with a token that names it; a
/// guessed cursor or id never yields its messages; a post is signed by its token's `sub`, not
/// by the body's `user`.
pub async fn identity_private_rooms_open_only_to_their_tokens_even_by_guessed_ids(target: Target) {
    let server = Server::start(target, &["--auth-secret", SECRET]).await;
    let fw = target.framework;
    let (alice, bob) = (token("alice", &["_ops"]), token("bob", &[]));
    let (alice_auth, bob_auth) = (bearer(&alice), bearer(&bob));
    let as_alice = [("authorization", &alice_auth[..])];
    let as_bob = [("authorization", &bob_auth[..])];
    let (status, _, error) = refusal(post(&server, "/chat", &[], "anonymous").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "[{fw}] {error}");
    let (status, _, error) = refusal(post(&server, "/chat/_ops", &as_bob, "in").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "[{fw}] {error}");
    assert!(error.contains("_ops"), "[{fw}] {error}");
    for text in ["secret 1", "secret 2"] {
        let posted = post(&server, "/chat/_ops", &as_alice, text).await;
        assert_eq!(
            posted.status(),
            StatusCode::CREATED,
            "[{fw}] alice posts to _ops"
        );
    }
    let posted = post(&server, "/chat", &as_bob, "hello").await;
    assert_eq!(
        posted.status(),
        StatusCode::CREATED,
        "[{fw}] bob posts to the lobby"
    );
    for (auth, status) in [
        (&[][..], StatusCode::UNAUTHORIZED),
        (&as_bob[..], StatusCode::FORBIDDEN),
    ] {
        for path in ["/events/chat?rooms=_ops", "/events/chat?rooms=lobby,_ops"] {
            let (got, _, error) = refusal(server.request(Method::GET, path, auth).await).await;
            assert_eq!(got, status, "[{fw}] {path}: {error}");
        }
    }
    for guess in ["_ops:0,lobby:0", "_ops:0", "0", "lobby:0,_ops:0"] {
        let mut lobby = follow(&server, "/events/chat", &bob, guess).await;
        let message = room_message(fw, &lobby.next().await);
        assert_eq!(
            (message.room.as_str(), message.text.as_str()),
            ("lobby", "hello"),
            "[{fw}] {guess}"
        );
        assert_quiet(fw, &mut lobby).await;
    }
    let mut both = follow(&server, "/events/chat?rooms=_ops,lobby", &alice, "").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = both.next().await;
        let data: Value = serde_json::from_str(&event.data).expect("JSON data");
        seen.push((
            data["room"].as_str().map(str::to_owned),
            data["user"].as_str().map(str::to_owned),
        ));
    }
    seen.sort();
    let who = |room: &str, user: &str| (Some(room.to_owned()), Some(user.to_owned()));
    assert_eq!(
        seen,
        [
            who("_ops", "alice"),
            who("_ops", "alice"),
            who("lobby", "bob")
        ],
        "[{fw}] the signed names, never mallory"
    );
    let metrics = server.get("/metrics").await.text().await;
    for counted in [
        r#"sse_auth_refused_total{status="401"} 3"#,
        r#"sse_auth_refused_total{status="403"} 3"#,
    ] {
        assert!(metrics.contains(counted), "[{fw}] {counted} in {metrics}");
    }
}

/// A stream opened with a token ends with `event: expired` when the token does; a reconnect
/// with a fresh token and the last id resumes exactly, and one with the old token gets 401.
pub async fn identity_expiry_ends_the_stream_and_a_fresh_token_resumes_exactly(target: Target) {
    let server = Server::start(
        target,
        &["--auth-secret", SECRET, "--auth-leeway-secs", "0"],
    )
    .await;
    let fw = target.framework;
    let short = sign(&claims("alice", &["_ops"], 5));
    let publisher = bearer(&token("alice", &["_ops"]));
    let as_alice = [("authorization", &publisher[..])];
    let path = "/events/chat?rooms=lobby,_ops&history=0";
    let mut stream = follow(&server, path, &short, "").await;
    assert_eq!(
        post(&server, "/chat/_ops", &as_alice, "one").await.status(),
        StatusCode::CREATED
    );
    let one = room_message(fw, &stream.next().await);
    assert_eq!(one.text, "one", "[{fw}]");
    // The token lives 4 to 5 s, and the stream ends in the second after: within the wait of
    // `next` from here, however slowly "one" came.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expired = stream.next().await;
    assert_eq!(expired.event, "expired", "[{fw}] {expired:?}");
    assert!(
        expired.data.contains(r#""user":"alice""#),
        "[{fw}] {expired:?}"
    );
    assert_eq!(
        expired.id, one.event_id,
        "[{fw}] expired carries no id of its own"
    );
    stream.assert_ends().await;
    for (room, text) in [("_ops", "two"), ("lobby", "three")] {
        let posted = post(&server, &format!("/chat/{room}"), &as_alice, text).await;
        assert_eq!(posted.status(), StatusCode::CREATED, "[{fw}]");
    }
    let fresh = token("alice", &["_ops"]);
    let mut resumed = follow(&server, path, &fresh, &one.event_id).await;
    let texts = [
        room_message(fw, &resumed.next().await),
        room_message(fw, &resumed.next().await),
    ];
    // Each room in its order; the replay of two rooms may interleave them either way.
    let mut texts: Vec<_> = texts.iter().map(|m| m.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["three", "two"], "[{fw}] no gap, no duplicate");
    assert_quiet(fw, &mut resumed).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let old = cookie(&short);
    let (status, _, error) = refusal(
        server
            .request(Method::GET, path, &[("cookie", &old[..])])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "[{fw}] {error}");
    let metrics = server.get("/metrics").await.text().await;
    assert!(
        metrics.contains("sse_streams_expired_total 1"),
        "[{fw}] {metrics}"
    );
}

/// `POST /login` hands back an `HttpOnly` cookie (`Secure` over TLS) that `GET /me` and the
/// streams read; `POST /logout` takes it back; an allowed origin reads with credentials and any
/// other gets `*`; `--auth-required` closes even the public streams to anyone without a token.
pub async fn identity_the_demo_sign_in_sets_an_http_only_cookie(target: Target) {
    let origin = "http://localhost:9999";
    let args = [
        "--auth-secret",
        SECRET,
        "--demo-login",
        "--allow-origin",
        origin,
    ];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let body = r#"{"user":"alice","rooms":["_ops"],"ttl_secs":60}"#;
    let signed_in = server
        .send(Method::POST, "/login", &[JSON], body.into())
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK, "[{fw}] /login");
    let set_cookie = signed_in
        .header("set-cookie")
        .unwrap_or_default()
        .to_owned();
    for part in ["sse_token=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "[{fw}] {set_cookie}");
    }
    let over_tls = target.protocol == crate::Protocol::Http2;
    assert_eq!(
        set_cookie.contains("Secure"),
        over_tls,
        "[{fw}] Secure over TLS only: {set_cookie}"
    );
    let token = set_cookie["sse_token=".len()..]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let cookie = tokens::cookie(&token);
    let me = server
        .request(Method::GET, "/me", &[("cookie", &cookie[..])])
        .await;
    let me: Value = serde_json::from_str(&me.text().await).expect("JSON");
    assert_eq!(
        (me["user"].as_str(), me["identity"].as_str()),
        (Some("alice"), Some("optional")),
        "[{fw}] {me}"
    );
    assert_eq!(me["rooms"], serde_json::json!(["_ops"]), "[{fw}] {me}");
    let with_origin = |o: &'static str| [("cookie", &cookie[..]), ("origin", o.as_bytes())];
    let allowed = server
        .request(Method::GET, "/events/chat?rooms=_ops", &with_origin(origin))
        .await;
    assert_eq!(allowed.status(), StatusCode::OK, "[{fw}]");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(origin),
        "[{fw}]"
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true"),
        "[{fw}]"
    );
    assert!(
        allowed.header("vary").is_some_and(|v| v.contains("origin")),
        "[{fw}]"
    );
    let other = server
        .request(
            Method::GET,
            "/events/chat",
            &with_origin("http://evil.example"),
        )
        .await;
    assert_eq!(
        other.header("access-control-allow-origin"),
        Some("*"),
        "[{fw}]"
    );
    assert_eq!(
        other.header("access-control-allow-credentials"),
        None,
        "[{fw}]"
    );
    let out = server
        .request(Method::POST, "/logout", &[("cookie", &cookie[..])])
        .await;
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "[{fw}]"
    );
    let required = Server::start(target, &["--auth-secret", SECRET, "--auth-required"]).await;
    let (status, _, error) = refusal(required.get("/events").await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "[{fw}] --auth-required: {error}"
    );
    let alice = tokens::cookie(&tokens::token("alice", &[]));
    let clock = required
        .request(Method::GET, "/events", &[("cookie", &alice[..])])
        .await;
    assert_eq!(
        clock.status(),
        StatusCode::OK,
        "[{fw}] --auth-required with a token"
    );
    assert_eq!(
        required.get("/health").await.status(),
        StatusCode::OK,
        "[{fw}] /health stays open"
    );
}

/// Runs `clients/read_with_bearer.py` on `path` with `token`, for `count` chat events; returns
/// its exit status and its lines.
async fn read_with_httpx_sse(
    server: &Server,
    path: &str,
    token: &str,
    count: usize,
) -> (i32, Vec<String>) {
    let url = format!(
        "{}://127.0.0.1:{}{path}",
        server.protocol.scheme(),
        server.addr.port()
    );
    let count = count.to_string();
    let args = [url.as_str(), token, count.as_str()];
    foreign::python_script(server.framework, "read_with_bearer.py", &args).await
}

/// A client we did not write, Python's `httpx-sse`, reads a private room with its token in an
/// `Authorization: Bearer` header (over HTTP/2 when the server speaks it), and is refused it
/// with another user's token.
pub async fn identity_httpx_sse_reads_a_private_room_with_a_bearer_header(target: Target) {
    let server = Server::start(target, &["--auth-secret", SECRET]).await;
    let fw = target.framework;
    let alice = token("alice", &["_ops"]);
    let auth = bearer(&alice);
    for text in ["deploy at 5", "rollback plan"] {
        let posted = post(&server, "/chat/_ops", &[("authorization", &auth[..])], text).await;
        assert_eq!(posted.status(), StatusCode::CREATED, "[{fw}]");
    }
    let (status, lines) = read_with_httpx_sse(&server, "/events/chat?rooms=_ops", &alice, 2).await;
    assert_eq!(status, 0, "[{fw}] {lines:?}");
    let version = if target.protocol == crate::Protocol::Http2 {
        "HTTP/2"
    } else {
        "HTTP/1.1"
    };
    assert_eq!(lines[0], version, "[{fw}]");
    let texts: Vec<String> = lines[1..]
        .iter()
        .map(|line| {
            let data: Value = serde_json::from_str(line).expect("JSON data");
            assert_eq!(
                (data["room"].as_str(), data["user"].as_str()),
                (Some("_ops"), Some("alice")),
                "[{fw}] {data}"
            );
            data["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(texts, ["deploy at 5", "rollback plan"], "[{fw}]");
    let bob = token("bob", &[]);
    let (status, lines) = read_with_httpx_sse(&server, "/events/chat?rooms=_ops", &bob, 1).await;
    assert_eq!(status, 3, "[{fw}] {lines:?}");
    assert!(
        lines.get(1).is_some_and(|line| line.starts_with("403")),
        "[{fw}] {lines:?}"
    );
}

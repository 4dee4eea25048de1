//! `sse token`: mints a token (a JWT) for the servers of this project, for scripts and tests,
//! as an application that has its own sign-in would. The claims are the ones the book's chapter
//! "Who may read what" describes: `sub`, `exp`, and the project's `rooms` and `publish`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::http::Error;

/// What to mint.
#[derive(Debug)]
pub struct Mint {
    /// The `sub` claim: the name the chat shows.
    pub user: String,
    /// The private rooms the token opens.
    pub rooms: Vec<String>,
    /// How long the token lasts.
    pub ttl: Duration,
    /// `None`: may post wherever it reads; `Some(empty)`: may not post; else these rooms only.
    pub publish: Option<Vec<String>>,
    /// The `aud` claim, for a server started with `--auth-audience`.
    pub audience: Option<String>,
}

/// How to sign it.
#[derive(Debug)]
pub enum Signer {
    /// HS256 with the server's `--auth-secret`.
    Secret(String),
    /// EdDSA or RS256 with this private key (PEM), whose public key the server has.
    PrivateKey(Vec<u8>),
}

/// The signed token.
pub fn mint(what: &Mint, signer: &Signer) -> Result<String, Error> {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        + what.ttl;
    let publish = match &what.publish {
        None => Value::Bool(true),
        Some(rooms) if rooms.is_empty() => Value::Bool(false),
        Some(rooms) => json!(rooms),
    };
    let mut claims = json!({
        "sub": what.user,
        "exp": exp.as_secs(),
        "publish": publish,
    });
    if !what.rooms.is_empty() {
        claims["rooms"] = json!(what.rooms);
    }
    if let Some(audience) = &what.audience {
        claims["aud"] = json!(audience);
    }
    let (algorithm, key) = match signer {
        Signer::Secret(secret) => (
            Algorithm::HS256,
            EncodingKey::from_secret(secret.as_bytes()),
        ),
        Signer::PrivateKey(pem) => match EncodingKey::from_ed_pem(pem) {
            Ok(key) => (Algorithm::EdDSA, Ok(key)),
            Err(_) => (Algorithm::RS256, EncodingKey::from_rsa_pem(pem)),
        },
    };
    let key = key.map_err(|e| format!("the key cannot sign: {e}"))?;
    let token = jsonwebtoken::encode(&Header::new(algorithm), &claims, &key);
    Ok(token.map_err(|e| e.to_string())?)
}

/// `90s`, `10m`, `1h`, `2d`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: give seconds, or a number with s, m, h or d"
            ));
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: give seconds, or a number with s, m, h or d"))?;
    Ok(Duration::from_secs(number * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(duration("1w").is_err() && duration("h").is_err());
    }

    #[test]
    fn a_minted_token_has_the_claims_asked_for() {
        let what = Mint {
            user: "alice".into(),
            rooms: vec!["_ops".into()],
            ttl: Duration::from_secs(60),
            publish: Some(Vec::new()),
            audience: None,
        };
        let token = mint(&what, &Signer::Secret("s".repeat(32))).expect("minted");
        let claims = token.split('.').nth(1).expect("three parts");
        assert!(!claims.is_empty());
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let key = jsonwebtoken::DecodingKey::from_secret("s".repeat(32).as_bytes()).expect("a key");
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("valid");
        assert_eq!(data.claims["rooms"], json!(["_ops"]));
        assert_eq!(data.claims["publish"], json!(false));
    }
}

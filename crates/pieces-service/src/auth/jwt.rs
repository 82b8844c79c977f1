//! Platform JWTs: HS256 only, `exp` required, the user from `user_id` or `sub`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AuthError;

/// Longest user id accepted from a token.
const USER_ID_MAX_CHARS: usize = 256;
/// Seconds a token is still accepted after its `exp`, for clocks that disagree a little.
pub const LEEWAY_SECS: u64 = 30;

/// Keys and rules for checking and minting tokens, built once at start-up.
#[derive(Clone)]
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    user_id: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: Option<&str>, audience: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks a token and returns its user id.
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        self.verify_until(token).map(|(user, _)| user)
    }

    /// Checks a token and returns its user id and when it expires (seconds since the epoch).
    pub fn verify_until(&self, token: &str) -> Result<(String, Option<i64>), AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| rejected_token(e.kind()))?;
        let exp = data.claims.exp;
        let user = match data.claims.user_id {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => data.claims.sub,
        };
        match user {
            Some(user) if !user.is_empty() && user.chars().count() <= USER_ID_MAX_CHARS => {
                Ok((user, exp))
            }
            _ => Err(unauthorized(
                "token_missing_claim",
                "the token names no user: it needs a user_id or sub claim",
            )),
        }
    }

    /// Mints a token for `user`, valid for `ttl_secs`.
    pub fn mint(&self, user: &str, ttl_secs: u64) -> String {
        let now = unix_now();
        let iss = self.validation.iss.as_ref().and_then(|s| s.iter().next());
        let aud = self.validation.aud.as_ref().and_then(|s| s.iter().next());
        let claims = MintedClaims {
            sub: user,
            user_id: user,
            exp: now + ttl_secs,
            iat: now,
            iss: iss.map(String::as_str),
            aud: aud.map(String::as_str),
        };
        // Encoding a plain struct with an HMAC key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn unauthorized(code: &'static str, detail: &str) -> AuthError {
    AuthError {
        code,
        detail: detail.to_owned(),
    }
}

fn rejected_token(kind: &JwtErrorKind) -> AuthError {
    match kind {
        JwtErrorKind::ExpiredSignature => unauthorized("token_expired", "the token has expired"),
        JwtErrorKind::InvalidSignature => {
            unauthorized("token_bad_signature", "the token's signature is not valid")
        }
        JwtErrorKind::InvalidAlgorithm | JwtErrorKind::InvalidAlgorithmName => {
            unauthorized("token_bad_algorithm", "the token must be signed with HS256")
        }
        JwtErrorKind::MissingRequiredClaim(claim) => AuthError {
            code: "token_missing_claim",
            detail: format!("the token lacks the required `{claim}` claim"),
        },
        JwtErrorKind::InvalidIssuer => {
            unauthorized("token_bad_issuer", "the token's issuer is not accepted")
        }
        JwtErrorKind::InvalidAudience => {
            unauthorized("token_bad_audience", "the token's audience is not accepted")
        }
        JwtErrorKind::ImmatureSignature => {
            unauthorized("token_not_yet_valid", "the token is not valid yet")
        }
        _ => unauthorized("token_malformed", "the token is malformed"),
    }
}

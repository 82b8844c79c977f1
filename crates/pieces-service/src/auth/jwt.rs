//! Platform JWTs: HS256 only, `exp` required, the user from `user_id` or `sub`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AuthError;

/// Longest user id accepted from a token.
use pieces_model::workspace::{is_team_key, USER_ID_MAX_CHARS};
/// Seconds a token is still accepted after its `exp`, for clocks that disagree a little.
pub const LEEWAY_SECS: u64 = 30;

/// Keys and rules for checking and minting tokens, built once at start-up.
#[derive(Clone)]
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    /// The claim that lists the caller's platform groups (`JWT_GROUPS_CLAIM`), if any.
    groups_claim: Option<String>,
}

/// Most groups read from one token, and the longest group name kept; the rest are ignored.
const MAX_GROUPS: usize = 256;
const GROUP_MAX_CHARS: usize = 200;

/// What a verified token says.
pub struct VerifiedClaims {
    pub user: String,
    /// Seconds since the epoch.
    pub exp: Option<i64>,
    /// The platform groups the token lists (empty without `JWT_GROUPS_CLAIM`).
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    /// Every other claim, where the groups claim is looked for.
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
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
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
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
            groups_claim: None,
        }
    }

    /// Reads the caller's platform groups from `claim` (`JWT_GROUPS_CLAIM`).
    pub fn with_groups_claim(mut self, claim: Option<&str>) -> Self {
        self.groups_claim = claim.map(str::to_owned);
        self
    }

    /// Checks a token and returns its user id.
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        self.verify_until(token).map(|(user, _)| user)
    }

    /// Checks a token and returns its user id and when it expires (seconds since the epoch).
    pub fn verify_until(&self, token: &str) -> Result<(String, Option<i64>), AuthError> {
        self.verify_claims(token).map(|c| (c.user, c.exp))
    }

    /// Checks a token and returns what it says: the user, the expiry, the groups.
    pub fn verify_claims(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let mut data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| rejected_token(e.kind()))?;
        let exp = data.claims.exp;
        let groups = match self.groups_claim.as_deref() {
            Some(claim) => groups_of(data.claims.other.remove(claim)),
            None => Vec::new(),
        };
        let user = match data.claims.user_id {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => data.claims.sub,
        };
        match user {
            // `ws_` starts team workspaces' keys, which share a column with user ids.
            Some(user) if is_team_key(&user) => Err(unauthorized(
                "token_invalid_user",
                "the token's user id starts with `ws_`, which only workspace ids may",
            )),
            Some(user) if !user.is_empty() && user.chars().count() <= USER_ID_MAX_CHARS => {
                Ok(VerifiedClaims { user, exp, groups })
            }
            _ => Err(unauthorized(
                "token_missing_claim",
                "the token names no user: it needs a user_id or sub claim",
            )),
        }
    }

    /// Mints a token for `user`, valid for `ttl_secs`.
    pub fn mint(&self, user: &str, ttl_secs: u64) -> String {
        self.mint_with(user, ttl_secs, serde_json::Map::new())
    }

    /// Mints a token for `user` with `extra` claims (groups, say).
    pub fn mint_with(
        &self,
        user: &str,
        ttl_secs: u64,
        extra: serde_json::Map<String, Value>,
    ) -> String {
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
            extra,
        };
        // Encoding a plain struct with an HMAC key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }
}

/// The groups a claim lists: an array of names, or one name; anything else lists none.
fn groups_of(claim: Option<Value>) -> Vec<String> {
    let names = match claim {
        Some(Value::Array(items)) => items,
        Some(Value::String(one)) => vec![Value::String(one)],
        _ => Vec::new(),
    };
    let mut groups: Vec<String> = names
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) if !s.is_empty() && s.chars().count() <= GROUP_MAX_CHARS => Some(s),
            _ => None,
        })
        .take(MAX_GROUPS)
        .collect();
    groups.sort();
    groups.dedup();
    groups
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

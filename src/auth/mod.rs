//! Who is calling: bearer tokens checked and turned into a user, for any front door.

mod jwt;

pub use jwt::JwtKeys;

/// Why a credential was refused: a stable code and a sentence, never the token itself.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct AuthError {
    pub code: &'static str,
    pub detail: String,
}

impl AuthError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// Turns a bearer credential into the user it speaks for.
pub struct Authenticator {
    jwt: JwtKeys,
}

impl Authenticator {
    pub fn new(jwt: JwtKeys) -> Self {
        Self { jwt }
    }

    /// The user a bearer token speaks for.
    pub fn authenticate(&self, token: &str) -> Result<String, AuthError> {
        self.jwt.verify(token)
    }
}

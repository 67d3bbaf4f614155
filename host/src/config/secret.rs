//! Secrets and identifiers that may come from the environment.

/// A value written in the file or named by `env("NAME")`. Environment
/// values are read when used, not when the file is checked, so `livedesk
/// check` runs without any secret present.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Literal(String),
    Env(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set")]
    Unset(String),
    #[error("environment variable `{0}` is empty")]
    Empty(String),
}

impl Secret {
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Secret::Literal(value) => Ok(value.clone()),
            Secret::Env(name) => match std::env::var(name) {
                Ok(value) if value.is_empty() => Err(SecretError::Empty(name.clone())),
                Ok(value) => Ok(value),
                Err(_) => Err(SecretError::Unset(name.clone())),
            },
        }
    }
}

/// Never prints a literal secret, so configs can be logged.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Secret(<literal>)"),
            Secret::Env(name) => write!(f, "Secret(env {name:?})"),
        }
    }
}

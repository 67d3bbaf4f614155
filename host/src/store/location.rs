//! Where a desk is kept, as `--database` names it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A desk's database: a SQLite data directory, or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// `sqlite:DIR`, or a plain directory path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, as libpq takes it.
    Postgres(String),
}

impl FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Location::Postgres(text.to_owned()));
        }
        let dir = text.strip_prefix("sqlite:").unwrap_or(text);
        if dir.is_empty() {
            return Err("a database is a directory (`sqlite:DIR`) or a `postgres://` URL".into());
        }
        if dir.contains("://") {
            return Err(format!(
                "`{text}` is no database LiveDesk knows: use `sqlite:DIR` or `postgres://…`"
            ));
        }
        Ok(Location::Sqlite(PathBuf::from(dir)))
    }
}

/// Shown in messages and logs: a URL without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "sqlite:{}", dir.display()),
            Location::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_their_backend() {
        assert_eq!(
            "sqlite:data".parse(),
            Ok(Location::Sqlite(PathBuf::from("data")))
        );
        assert_eq!(
            "./data".parse(),
            Ok(Location::Sqlite(PathBuf::from("./data")))
        );
        assert_eq!(
            "postgresql://h/db".parse(),
            Ok(Location::Postgres("postgresql://h/db".into()))
        );
        assert!("mysql://h/db".parse::<Location>().is_err());
        assert!("sqlite:".parse::<Location>().is_err());
    }

    #[test]
    fn a_password_is_never_shown() {
        let location: Location = "postgres://desk:s3cret@db:5432/livedesk"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(location.to_string(), "postgres://desk:***@db:5432/livedesk");
        assert!(!format!("{location:?}").contains("s3cret"));
    }
}

use std::path::PathBuf;

/// Where the data lives, decided from DATABASE_URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://` / `postgresql://` URLs go to PostgreSQL; `sqlite://path`, `sqlite:path`
    /// and plain paths to SQLite. An empty value is refused rather than silently opening a
    /// temporary database.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("DATABASE_URL is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path == ":memory:" || path.contains("://") {
            return Err(format!(
                "DATABASE_URL must be postgres://..., sqlite://<file> or a file path (got a {} value)",
                if path == ":memory:" {
                    "in-memory"
                } else {
                    "non-file"
                }
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// The URL to show: a PostgreSQL password (in the user part or a `password` parameter)
    /// is replaced by `REDACTED`.
    pub fn redacted(&self) -> String {
        self.shown(Some("REDACTED"))
    }

    /// The URL without its password, to hand to other tools (which then take it from
    /// PGPASSWORD or ~/.pgpass).
    pub fn without_password(&self) -> String {
        self.shown(None)
    }

    fn shown(&self, password: Option<&str>) -> String {
        let raw = match self {
            DatabaseUrl::Sqlite(path) => return path.display().to_string(),
            DatabaseUrl::Postgres(raw) => raw,
        };
        let Ok(mut url) = url::Url::parse(raw) else {
            return "postgres://(an unreadable URL, not shown)".into();
        };
        if url.password().is_some() {
            let _ = url.set_password(password);
        }
        if url.query_pairs().any(|(k, _)| k == "password") {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter_map(|(k, v)| match (k == "password", password) {
                    (false, _) => Some((k.into_owned(), v.into_owned())),
                    (true, Some(shown)) => Some((k.into_owned(), shown.to_owned())),
                    (true, None) => None,
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

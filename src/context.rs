//! What the services share: the database, the settings and the keyring.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::crypto::{EncryptionKey, Keyring};
use crate::db::{Db, DbError};

#[derive(Clone)]
pub struct AppContext {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub keyring: Arc<Keyring>,
}

impl AppContext {
    /// Opens the pool and builds the keyring; does not touch the schema.
    pub fn connect(settings: Settings) -> Result<AppContext, DbError> {
        let db = Db::connect(&settings.database_url, settings.db_pool_size)?;
        let key = |hex: &secrecy::SecretString| {
            EncryptionKey::from_hex(hex.expose_secret()).expect("validated when the settings were read")
        };
        let keyring = Keyring::new(
            key(&settings.encryption_key),
            settings.previous_encryption_keys.iter().map(key).collect(),
        );
        Ok(AppContext {
            db,
            settings: Arc::new(settings),
            keyring: Arc::new(keyring),
        })
    }

    /// Applies the migrations and seeds the provider catalogue. Returns (migrations applied,
    /// catalogue rows changed).
    pub async fn prepare_database(&self) -> Result<(usize, usize), DbError> {
        self.db
            .run(|conn| {
                let applied = crate::db::run_migrations(conn)?;
                let changed =
                    crate::db::catalogue::seed(conn, &crate::providers::catalogue::builtin_providers())?;
                Ok((applied, changed))
            })
            .await
    }
}

//! Every column that holds sealed (AES-256-GCM) values, in one place. A value's associated
//! data names its table, its column and its row, so a value copied into another row or column
//! does not open. Sealing, opening, key rotation and `keys check` all take the column from
//! here; a test checks that every binary column of the schema is either here or known to
//! hold no secret.

use crate::crypto::keyring::{Aad, Keyring, KeyringError};

/// A column of sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

impl SealedColumn {
    /// The associated data that binds a value of this column to its row.
    pub fn aad<'a>(&self, row_id: &'a str) -> Aad<'a> {
        Aad {
            table: self.table,
            column: self.column,
            row_id,
        }
    }
}

pub const ACCESS_TOKEN: SealedColumn = SealedColumn {
    table: "integration_credentials",
    column: "access_token",
};
pub const REFRESH_TOKEN: SealedColumn = SealedColumn {
    table: "integration_credentials",
    column: "refresh_token",
};
/// The PKCE verifier of a pending authorization.
pub const PKCE_VERIFIER: SealedColumn = SealedColumn {
    table: "integration_oauth_states",
    column: "pkce_verifier",
};
/// A webhook's signing secret, channel token or clientState.
pub const WEBHOOK_SECRET: SealedColumn = SealedColumn {
    table: "integration_webhooks",
    column: "secret",
};

/// A stored webhook event's body (employees' names and emails): sealed like a token.
pub const WEBHOOK_PAYLOAD: SealedColumn = SealedColumn {
    table: "integration_sync_logs",
    column: "payload",
};

pub const ALL: [SealedColumn; 5] = [
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    PKCE_VERIFIER,
    WEBHOOK_SECRET,
    WEBHOOK_PAYLOAD,
];

/// Binary columns that hold no secret.
pub const NOT_SEALED: [(&str, &str); 0] = [];

/// A webhook body sealed for the sync-log row `row_id`.
pub fn seal_payload(keyring: &Keyring, row_id: &str, body: &[u8]) -> Vec<u8> {
    keyring.seal(body, &WEBHOOK_PAYLOAD.aad(row_id))
}

/// The body stored on the sync-log row `row_id`. Bodies stored before they were sealed
/// (JSON as sent, which never starts like a sealed value) are read as they are, until
/// `keys rotate` seals them.
pub fn open_payload(keyring: &Keyring, row_id: &str, stored: &[u8]) -> Result<Vec<u8>, KeyringError> {
    if !Keyring::is_sealed(stored) {
        return Ok(stored.to_vec());
    }
    let plain = keyring.open(stored, &WEBHOOK_PAYLOAD.aad(row_id))?;
    Ok(secrecy::ExposeSecret::expose_secret(&plain).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(table, column)` of every `Binary` column in schema.rs.
    fn binary_columns(schema: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut table = String::new();
        for line in schema.lines().map(str::trim) {
            if line.ends_with(") {") && !line.starts_with("diesel::") {
                table = line.split(" (").next().unwrap_or_default().to_owned();
            } else if line.contains("-> Binary") || line.contains("-> Nullable<Binary>") {
                let column = line.split(" ->").next().unwrap_or_default();
                found.push((table.clone(), column.to_owned()));
            }
        }
        found
    }

    #[test]
    fn every_binary_column_is_registered_as_sealed_or_as_clear() {
        let columns = binary_columns(include_str!("schema.rs"));
        assert!(columns.len() >= ALL.len(), "{columns:?}");
        for (table, column) in &columns {
            let sealed = ALL.iter().any(|c| c.table == table && c.column == column);
            let clear = NOT_SEALED.contains(&(table.as_str(), column.as_str()));
            assert!(sealed ^ clear, "{table}.{column}: add it to ALL or to NOT_SEALED");
        }
        for sealed in ALL {
            assert!(
                columns
                    .iter()
                    .any(|(t, c)| t == sealed.table && c == sealed.column),
                "{sealed:?} is not a binary column of the schema"
            );
        }
    }
}

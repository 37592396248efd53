//! An account as the directory stores it, from what a provider lists: the email normalised
//! for matching, the state, and a hash of what is kept (an unchanged account is not rewritten).

use crate::db::directory::Listed;
use crate::domain::DirectoryState;

/// An account as stored: the email normalised (trimmed, lowercase), a hash of what is kept.
pub(super) fn listed(
    external_id: String,
    email: Option<String>,
    name: Option<String>,
    inactive: bool,
) -> Listed {
    let email = email.map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
    let state = if inactive {
        DirectoryState::Deactivated
    } else {
        DirectoryState::Active
    };
    account(external_id, email, name, state)
}

/// An account a change feed lists as removed: deleted for good, or else deactivated. Only the
/// id is said; what was known of it is kept.
pub(super) fn removed(external_id: String, deleted: bool) -> Listed {
    let state = if deleted {
        DirectoryState::Deleted
    } else {
        DirectoryState::Deactivated
    };
    account(external_id, None, None, state)
}

fn account(
    external_id: String,
    email: Option<String>,
    name: Option<String>,
    state: DirectoryState,
) -> Listed {
    let content_hash = crate::crypto::sha256_hex(
        format!(
            "{}\0{}\0{}",
            email.as_deref().unwrap_or_default(),
            name.as_deref().unwrap_or_default(),
            state.as_str()
        )
        .as_bytes(),
    );
    Listed {
        external_id,
        email,
        name,
        state,
        content_hash,
    }
}

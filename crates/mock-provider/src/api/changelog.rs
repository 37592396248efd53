//! A directory that remembers its changes, for the reads that list only what changed since a
//! token: Microsoft Graph's `users/delta` (delta links) and Google People's
//! `listDirectoryPeople` (sync tokens). Every change bumps a version; a token names the version
//! its read ended at, and a read from it lists each entry changed since once, in its last
//! state (present, or removed with a reason).

use serde_json::Value;

/// One entry of a read.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Present(Value),
    /// Removed: its id and why (Graph's `@removed.reason`).
    Removed(String, String),
}

pub(super) struct Directory {
    /// Where an entry's id is (`id`, `resourceName`).
    id_key: &'static str,
    entries: Vec<Value>,
    version: u64,
    /// (version, id, removal reason) of every change, oldest first.
    log: Vec<(u64, String, Option<String>)>,
    /// Tokens of earlier versions are expired.
    expired_before: u64,
}

/// Where a read is: from which version (`None`: a full read), up to which, and how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Position {
    pub since: Option<u64>,
    pub upto: u64,
    pub offset: usize,
}

impl Position {
    /// Opaque to clients: `since.upto.offset` (`-` for a full read).
    pub fn encode(&self) -> String {
        let since = self.since.map_or("-".to_owned(), |v| v.to_string());
        format!("{since}.{}.{}", self.upto, self.offset)
    }

    pub fn parse(text: &str) -> Option<Position> {
        let mut parts = text.split('.');
        let since = match parts.next()? {
            "-" => None,
            v => Some(v.parse().ok()?),
        };
        let position = Position {
            since,
            upto: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(position)
    }
}

impl Directory {
    pub fn new(id_key: &'static str) -> Directory {
        Directory {
            id_key,
            entries: Vec::new(),
            version: 0,
            log: Vec::new(),
            expired_before: 0,
        }
    }

    fn id_of(&self, entry: &Value) -> String {
        entry[self.id_key].as_str().unwrap_or_default().to_owned()
    }

    /// The entries from now on: new and changed ones are logged, and those no longer there
    /// as removed for `gone`.
    pub fn set(&mut self, entries: Vec<Value>, gone: &str) {
        let ids: Vec<String> = entries.iter().map(|e| self.id_of(e)).collect();
        let mut changed: Vec<(String, Option<String>)> = Vec::new();
        for old in &self.entries {
            let id = self.id_of(old);
            if !ids.contains(&id) {
                changed.push((id, Some(gone.to_owned())));
            }
        }
        for (entry, id) in entries.iter().zip(&ids) {
            if !self.entries.iter().any(|old| old == entry) {
                changed.push((id.clone(), None));
            }
        }
        for (id, removal) in changed {
            self.version += 1;
            self.log.push((self.version, id, removal));
        }
        self.entries = entries;
    }

    /// Removes one entry for `reason`; false when there is none by that id.
    pub fn remove(&mut self, id: &str, reason: &str) -> bool {
        let before = self.entries.len();
        let key = self.id_key;
        self.entries.retain(|e| e[key].as_str() != Some(id));
        if self.entries.len() == before {
            return false;
        }
        self.version += 1;
        self.log
            .push((self.version, id.to_owned(), Some(reason.to_owned())));
        true
    }

    /// Every token given so far expires (the provider's change window passed).
    pub fn expire_tokens(&mut self) {
        self.version += 1;
        self.expired_before = self.version;
    }

    /// The first position of a read: full, or from a token's version (`None`: a token the
    /// directory does not know, or expired).
    pub fn start(&self, since: Option<u64>) -> Option<Position> {
        if since.is_some_and(|v| v < self.expired_before || v > self.version) {
            return None;
        }
        Some(Position {
            since,
            upto: self.version,
            offset: 0,
        })
    }

    /// Whether a page token still belongs to a read the directory can continue.
    pub fn continues(&self, position: &Position) -> bool {
        position.upto <= self.version && position.since.is_none_or(|v| v >= self.expired_before)
    }

    /// One page of a read and the position of the next (`None`: the last page; the read's
    /// token then names `position.upto`).
    pub fn page(&self, position: &Position, limit: usize) -> (Vec<Item>, Option<Position>) {
        let items = match position.since {
            None => self.entries.iter().cloned().map(Item::Present).collect(),
            Some(since) => self.changes(since, position.upto),
        };
        let start = position.offset.min(items.len());
        let end = start.saturating_add(limit.max(1)).min(items.len());
        let next = (end < items.len()).then_some(Position {
            offset: end,
            ..*position
        });
        (items[start..end].to_vec(), next)
    }

    /// Each entry changed in (since, upto], once, in its last state.
    fn changes(&self, since: u64, upto: u64) -> Vec<Item> {
        let mut last: Vec<(&String, &Option<String>)> = Vec::new();
        for (_, id, removal) in self.log.iter().filter(|(v, ..)| since < *v && *v <= upto) {
            last.retain(|(seen, _)| *seen != id);
            last.push((id, removal));
        }
        last.into_iter()
            .map(|(id, removal)| {
                let present = self.entries.iter().find(|e| e[self.id_key].as_str() == Some(id));
                match (removal, present) {
                    (None, Some(entry)) => Item::Present(entry.clone()),
                    (Some(reason), _) => Item::Removed(id.clone(), reason.clone()),
                    (None, None) => Item::Removed(id.clone(), "deleted".to_owned()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_from_a_token_lists_each_change_once_and_expired_tokens_are_refused() {
        let mut directory = Directory::new("id");
        directory.set(vec![json!({"id": "a"}), json!({"id": "b", "n": 1})], "changed");
        let full = directory.start(None).unwrap();
        let (items, next) = directory.page(&full, 1);
        assert_eq!((items.len(), next.map(|p| p.offset)), (1, Some(1)));
        let token = full.upto;
        directory.set(vec![json!({"id": "b", "n": 2}), json!({"id": "c"})], "changed");
        directory.set(vec![json!({"id": "b", "n": 3}), json!({"id": "c"})], "changed");
        let delta = directory.start(Some(token)).unwrap();
        let (items, next) = directory.page(&delta, 10);
        assert!(next.is_none());
        assert_eq!(
            items,
            [
                Item::Removed("a".into(), "changed".into()),
                Item::Present(json!({"id": "c"})),
                Item::Present(json!({"id": "b", "n": 3})),
            ]
        );
        assert_eq!(Position::parse(&delta.encode()), Some(delta));
        directory.expire_tokens();
        assert!(directory.start(Some(token)).is_none());
        assert!(directory.start(Some(directory.version)).is_some());
    }
}

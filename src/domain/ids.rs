use uuid::Uuid;

/// Declares a UUID id newtype. It keeps the id's text form (hyphenated, lowercase: how
/// every id is stored) so that it can be bound to a query by reference, and stays `Copy`.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name([u8; 36]);

        impl $name {
            pub fn new() -> Self {
                Self::from_uuid(Uuid::new_v4())
            }

            fn from_uuid(uuid: Uuid) -> Self {
                let mut text = [0u8; 36];
                uuid.hyphenated().encode_lower(&mut text);
                $name(text)
            }

            /// Parses an id from a path or a column; anything that is not a UUID is `None`.
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::parse_str(text).ok().map(Self::from_uuid)
            }

            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).expect("an id is ASCII")
            }

            pub fn to_text(self) -> String {
                self.as_str().to_owned()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }
    };
}

uuid_id!(
    /// An organization (tenant).
    OrgId
);
uuid_id!(
    /// A user (HR admin) of an organization.
    UserId
);
uuid_id!(
    /// An invitation to become an admin of an organization.
    InvitationId
);
uuid_id!(
    /// One connection of an organization to a provider account.
    IntegrationId
);

/// A provider's catalogue slug: `[a-z0-9-]+`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct ProviderSlug(String);

impl ProviderSlug {
    pub fn parse(text: &str) -> Option<Self> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| ProviderSlug(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix of this provider's environment variables: `google` -> `GOOGLE`,
    /// `acme-sso` -> `ACME_SSO`.
    pub fn env_prefix(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

impl std::fmt::Display for ProviderSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = OrgId::new();
        assert_eq!(OrgId::parse(&id.to_text()), Some(id));
        assert_eq!(OrgId::parse("1 OR 1=1"), None);
    }

    #[test]
    fn slugs() {
        assert_eq!(ProviderSlug::parse("acme-sso").unwrap().env_prefix(), "ACME_SSO");
        for bad in ["", "Slack", "a_b", "a/b", "../x"] {
            assert!(ProviderSlug::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}

//! The domain's values as column values: ids, slugs and the status and kind enums are
//! written as their text form and parsed back when read, so rows carry typed values and a
//! value the domain would refuse is a read error, never a silent default.

use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::{
    AuditKind, AuditOutcome, AuthKind, DirectoryChange, DirectorySource, DirectoryState, Employment,
    IntegrationId, IntegrationStatus, InvitationId, LogKind, LogStatus, OrgId, ProviderSlug, Role,
    TokenAuthMethod, UserId, WebhookKind, WebhookStatus,
};
use diesel::backend::Backend;

macro_rules! text_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                <$ty>::parse(&text).ok_or_else(|| {
                    format!("{:?} is not a valid {}", text, stringify!($ty)).into()
                })
            }
        }
    )+};
}

text_column!(
    AuditKind,
    AuditOutcome,
    DirectoryChange,
    DirectorySource,
    Employment,
    DirectoryState,
    OrgId,
    UserId,
    InvitationId,
    IntegrationId,
    ProviderSlug,
    IntegrationStatus,
    LogKind,
    LogStatus,
    WebhookStatus,
    AuthKind,
    TokenAuthMethod,
    WebhookKind,
    Role,
);

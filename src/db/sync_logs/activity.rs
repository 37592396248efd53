//! The health dashboard's counts: an organization's refreshes and webhook events by
//! integration, kind, status and hour, in one grouped statement that is prepared once per
//! connection (the hour is an expression of ours rather than raw SQL, which diesel would
//! prepare again at every view).

use chrono::NaiveDateTime;
use diesel::expression::{
    AppearsOnTable, Expression, IsContainedInGroupBy, SelectableExpression, ValidGrouping, is_aggregate,
    is_contained_in_group_by,
};
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::db::native::native;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Timestamp};
use diesel::sqlite::Sqlite;

use super::l;
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, LogKind, LogStatus, OrgId};

/// The number of an integration's refreshes or webhook events of one status in one hour.
#[derive(Debug, Queryable)]
pub struct HourlyActivity {
    pub integration_id: Option<IntegrationId>,
    pub kind: LogKind,
    pub status: LogStatus,
    /// Whole hours since `since`.
    pub hour: i64,
    pub entries: i64,
}

/// The organization's refreshes and webhook events in [since, until), counted by
/// integration, kind, status and hour: what is read grows with the number of integrations
/// and hours, never with the number of entries.
pub fn hourly_activity(
    conn: &mut DbConnection,
    org_id: OrgId,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<HourlyActivity>, DbError> {
    let hour = HoursSince(since);
    Ok(native!(conn => l::table
        .filter(l::created_at.ge(since))
        .filter(l::created_at.lt(until))
        .filter(l::org_id.eq(org_id))
        .filter(l::kind.eq(LogKind::Refresh).or(l::kind.eq(LogKind::WebhookEvent)))
        .group_by((l::integration_id, l::kind, l::status, FourthColumn))
        .select((
            l::integration_id,
            l::kind,
            l::status,
            hour,
            diesel::dsl::count_star(),
        ))
        .load(conn))?)
}

/// Whole hours from the instant it holds to an entry's `created_at`: date arithmetic, which
/// each backend spells its own way.
#[derive(Debug, Clone, Copy)]
struct HoursSince(NaiveDateTime);

impl Expression for HoursSince {
    type SqlType = BigInt;
}

impl QueryId for HoursSince {
    type QueryId = Self;
    // The SQL is the same whatever the instant (a bound parameter): cacheable.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for HoursSince {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("CAST((julianday(");
        l::created_at.walk_ast(out.reborrow())?;
        out.push_sql(") - julianday(");
        out.push_bind_param::<Timestamp, _>(&self.0)?;
        out.push_sql(")) * 24 AS INTEGER)");
        Ok(())
    }
}

impl QueryFragment<Pg> for HoursSince {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("FLOOR(EXTRACT(EPOCH FROM (");
        l::created_at.walk_ast(out.reborrow())?;
        out.push_sql(" - ");
        out.push_bind_param::<Timestamp, _>(&self.0)?;
        out.push_sql(")) / 3600)::BIGINT");
        Ok(())
    }
}

/// The application's connection chooses the backend's spelling at run time.
type Multi = <DbConnection as diesel::Connection>::Backend;

impl QueryFragment<Multi> for HoursSince {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Multi>) -> QueryResult<()> {
        Multi::walk_variant_ast(self, pass)
    }
}

impl<QS> AppearsOnTable<QS> for HoursSince {}
impl<QS> SelectableExpression<QS> for HoursSince {}

/// Grouped by (as `FourthColumn`), it stands for its own value: as valid in the select list
/// as the columns it is grouped with.
impl<GB> ValidGrouping<GB> for HoursSince {
    type IsAggregate = is_aggregate::Yes;
}

/// The select list's fourth column, by position: PostgreSQL groups by the hour only if the
/// group key is the very expression selected, which it would not recognise with its own
/// parameter.
#[derive(Debug, Clone, Copy, QueryId)]
struct FourthColumn;

impl Expression for FourthColumn {
    type SqlType = BigInt;
}

impl<DB: diesel::backend::Backend> QueryFragment<DB> for FourthColumn {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("4");
        Ok(())
    }
}

impl<QS> AppearsOnTable<QS> for FourthColumn {}

macro_rules! not_a_column {
    ($($column:ident),*) => {$(
        impl IsContainedInGroupBy<l::$column> for FourthColumn {
            type Output = is_contained_in_group_by::No;
        }
    )*};
}
not_a_column!(integration_id, kind, status);

//! `audit verify`: every organization's audit chain (or one's) recomputed from the database.

use crate::config::Settings;
use crate::context::AppContext;
use crate::domain::OrgId;
use crate::integrations::oversight::{ChainCheck, verify_audit_chains};

/// Prints each chain's state; fails (exit 1) naming the first broken link of each broken one.
pub async fn audit_verify(settings: Settings, org: Option<&str>) -> anyhow::Result<()> {
    let only = match org {
        Some(text) => {
            Some(OrgId::parse(text).ok_or_else(|| anyhow::anyhow!("{text:?} is not an organization id"))?)
        }
        None => None,
    };
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_current_schema().await?;
    let mut broken = 0;
    for (org, check) in verify_audit_chains(&ctx, only).await? {
        match check {
            ChainCheck::Empty => println!("{org}: no audit event"),
            ChainCheck::Verified { events, up_to } => {
                println!("{org}: {events} events verified, up to {up_to}")
            }
            ChainCheck::Broken { seq, reason } => {
                broken += 1;
                println!("{org}: BROKEN at event {seq}: {reason}");
            }
        }
    }
    if broken > 0 {
        anyhow::bail!("{broken} audit chain(s) broken");
    }
    Ok(())
}

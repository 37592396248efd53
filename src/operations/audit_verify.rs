//! `audit verify`: every organization's audit chain (or one's) recomputed from the database;
//! `audit export`: one organization's trail with its hashes.

use crate::config::Settings;
use crate::context::AppContext;
use crate::domain::OrgId;
use crate::integrations::oversight::{ChainCheck, export_audit, verify_audit_chains};

/// Prints the organization's audit trail as JSON Lines (with `prev_hash` and `hash`).
pub async fn audit_export(settings: Settings, org: &str) -> anyhow::Result<()> {
    let org = OrgId::parse(org).ok_or_else(|| anyhow::anyhow!("{org:?} is not an organization id"))?;
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_current_schema().await?;
    print!("{}", export_audit(&ctx, org, Default::default(), true).await?);
    Ok(())
}

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

//! `keys rotate` and `keys check`: the stored secrets under the configured keys.

use crate::config::Settings;
use crate::context::AppContext;
use crate::integrations::key_rotation;

/// Re-encrypts every stored secret under the current key; fails if some cannot be opened.
pub async fn rotate_keys(settings: Settings) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let report = key_rotation::rotate_keys(&ctx).await?;
    println!(
        "re-encrypted {} rows under key {}; {} unreadable",
        report.moved,
        ctx.keyring.current_key_id(),
        report.unreadable
    );
    anyhow::ensure!(
        report.unreadable == 0,
        "{} rows could not be opened with any configured key",
        report.unreadable
    );
    Ok(())
}

/// Opens every stored secret; lists and fails on those no configured key opens.
pub async fn check_keys(settings: Settings) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let report = key_rotation::check_keys(&ctx).await?;
    for bad in &report.unreadable {
        println!(
            "unreadable: {}.{} of row {}: {}",
            bad.table, bad.column, bad.row_id, bad.reason
        );
    }
    println!(
        "checked {} sealed values: {} under the current key {}, {} under previous keys, {} unreadable",
        report.checked,
        report.checked - report.under_previous_keys - report.unreadable.len(),
        ctx.keyring.current_key_id(),
        report.under_previous_keys,
        report.unreadable.len()
    );
    anyhow::ensure!(
        report.unreadable.is_empty(),
        "{} sealed values cannot be opened with the configured keys",
        report.unreadable.len()
    );
    Ok(())
}

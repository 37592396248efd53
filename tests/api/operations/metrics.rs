//! What an operator watches: /metrics (the build, the process, the pool, the queue, the
//! integrations by status) and the alert rules in deploy/alerts.yml.

use std::collections::BTreeSet;

use chrono::Duration;
use diesel::prelude::*;

use crate::webhooks::{app_with, integration, now_secs, post_slack, slack_event};
use targetym_integrations::db::schema::integrations as i;
use targetym_integrations::db::sync_logs::{JOB_MAX_ATTEMPTS, NewJob, enqueue};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, LogKind, OrgId};

/// The value of the sample `series` (name and labels as Prometheus prints them).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The metric names an alert rule's expression reads: what is left once strings, label
/// matchers, ranges, `by`/`without` lists, functions and PromQL's words are taken out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const WORDS: [&str; 20] = [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "group",
        "quantile",
    ];
    let mut plain = String::new();
    let mut skipping_to: Option<char> = None;
    for c in expr.chars() {
        match (skipping_to, c) {
            (None, '{') => skipping_to = Some('}'),
            (None, '[') => skipping_to = Some(']'),
            (None, '"') => skipping_to = Some('"'),
            (None, c) => plain.push(c),
            (Some(end), c) if c == end => {
                skipping_to = None;
                plain.push(' ');
            }
            (Some(_), _) => {}
        }
    }
    let mut names = BTreeSet::new();
    let mut rest = plain.as_str();
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let word_end = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(rest.len(), |n| start + n);
        let word = &rest[start..word_end];
        let after = rest[word_end..].trim_start();
        let is_number = rest[..start].ends_with(|c: char| c.is_ascii_digit());
        if matches!(word, "by" | "without" | "on" | "ignoring") {
            // Its label list: skip to the closing parenthesis.
            let close = after
                .find(')')
                .map_or(rest.len(), |n| rest.len() - after.len() + n + 1);
            rest = &rest[close..];
            continue;
        }
        if !after.starts_with('(') && !WORDS.contains(&word) && !is_number {
            names.insert(word.to_owned());
        }
        rest = &rest[word_end..];
    }
    names
}

#[test]
fn the_expression_reader_finds_metric_names_only() {
    let names = metric_names(
        r#"max without (instance) (delta(integrations{status="needs_reauth"}[1h])) > 0 or time() - worker_last_tick_timestamp_seconds > 300 and rate(x_total[5m] offset 1h) > 3"#,
    );
    let expected = ["integrations", "worker_last_tick_timestamp_seconds", "x_total"];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
}

/// Every alert rule's `expr:` in deploy/alerts.yml (one line each).
fn alert_expressions() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/alerts.yml");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr:"))
        .map(|expr| expr.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn every_metric_the_alert_rules_read_is_exposed() {
    let t = app_with(&[("BREAKER_THRESHOLD", "1")]).await;
    // The series that appear with their first event: a breaker opens, a delivery is refused.
    let now = targetym_integrations::domain::now();
    t.app.ctx.breakers.admit("slack", now).unwrap().failed(now);
    let body = slack_event("T-ALERTS", "EvAlerts", "member_joined_channel");
    let refused = post_slack(&t, &body, &now_secs(), "v0=00", None).await;
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    let exprs = alert_expressions();
    assert!(exprs.len() >= 6, "the rules were not read: {exprs:?}");
    let mut missing = Vec::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        for name in names {
            if !metrics.contains(&format!("\n{name}{{")) && !metrics.contains(&format!("\n{name} ")) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "alert rules read metrics /metrics lacks: {missing:?}"
    );
}

#[tokio::test]
async fn metrics_expose_the_build_the_process_the_pool_the_queue_and_integrations_by_status() {
    let t = app_with(&[]).await;
    let id = IntegrationId::parse(&integration(&t, "slack", "T-OPS").await).unwrap();
    let org: OrgId = t
        .app
        .ctx
        .db
        .run(move |conn| {
            diesel::update(i::table.find(id))
                .set(i::status.eq(IntegrationStatus::NeedsReauth))
                .execute(conn)?;
            Ok(i::table.find(id).select(i::org_id).first(conn)?)
        })
        .await
        .unwrap();
    // Two jobs: one due for two minutes, one due in an hour (not counted).
    let now = targetym_integrations::domain::now();
    for (at, key) in [
        (now - Duration::seconds(120), "ops-due"),
        (now + Duration::hours(1), "ops-later"),
    ] {
        t.app
            .ctx
            .db
            .run(move |conn| {
                let job = NewJob {
                    org_id: org,
                    integration_id: Some(id),
                    provider_slug: "slack",
                    kind: LogKind::Sync,
                    message: "a sync",
                    dedup_key: Some(key),
                    payload: None,
                    max_attempts: JOB_MAX_ATTEMPTS,
                };
                enqueue(conn, &job, at)
            })
            .await
            .unwrap();
    }

    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    let commit = targetym_integrations::telemetry::COMMIT;
    let build = format!(
        "targetym_build_info{{commit=\"{commit}\",version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&metrics, &build), Some(1.0), "{metrics}");
    if std::env::var_os("GIT_COMMIT").is_none()
        && let Ok(out) = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
        && out.status.success()
    {
        assert_eq!(
            commit,
            String::from_utf8_lossy(&out.stdout).trim(),
            "the commit built from"
        );
    }
    // CPU time is counted in whole seconds: a fresh process may read 0.
    assert!(
        sample(&metrics, "process_cpu_seconds_total").is_some(),
        "{metrics}"
    );
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            sample(&metrics, name).is_some_and(|v| v > 0.0),
            "{name}: {metrics}"
        );
    }
    assert_eq!(sample(&metrics, "db_pool_connections_max"), Some(4.0));
    let (in_use, idle) = (
        sample(&metrics, "db_pool_connections_in_use").unwrap(),
        sample(&metrics, "db_pool_connections_idle").unwrap(),
    );
    assert!(in_use + idle >= 1.0 && in_use + idle <= 4.0, "{in_use} + {idle}");
    assert_eq!(
        sample(&metrics, "integrations{status=\"needs_reauth\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "integrations{status=\"connected\"}"), Some(0.0));
    assert_eq!(sample(&metrics, "job_queue_due"), Some(1.0));
    let age = sample(&metrics, "job_queue_oldest_due_age_seconds").unwrap();
    assert!(
        (120.0..180.0).contains(&age),
        "the due job waited two minutes, not {age} s"
    );
    assert!(sample(&metrics, "worker_last_tick_timestamp_seconds").is_some());
}

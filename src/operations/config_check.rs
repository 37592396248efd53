//! `config check`: the settings this environment gives and the provider catalogue the
//! providers file makes, printed with every secret shown only as "set" (never its value).

use crate::config::Settings;
use crate::providers::Catalogue;

/// Loads the providers file (with OpenID discovery) and prints what would be used. The
/// environment was checked when `settings` were read.
pub async fn config_check(settings: &Settings) -> anyhow::Result<()> {
    let http = crate::providers::http::client(settings.provider_timeout, settings.tls_roots);
    let catalogue = Catalogue::load(settings, &http).await?;
    let set = |on: bool| if on { "set" } else { "not set" };
    let mut lines = vec![
        ("APP_ENV", format!("{:?}", settings.app_env).to_lowercase()),
        ("DATABASE_URL", settings.database_url.redacted()),
        ("DATA_DIR", settings.data_dir.display().to_string()),
        ("BIND_ADDR", settings.bind_addr.clone()),
        (
            "PUBLIC_URL",
            settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{} (from BIND_ADDR)", settings.bind_addr)),
        ),
        ("MIGRATE_ON_START", settings.migrate_on_start.to_string()),
        ("WORKER_ENABLED", settings.worker.enabled.to_string()),
        (
            "INTEGRATION_ENCRYPTION_KEY",
            format!("set (key id {})", settings.encryption_key.id_hex()),
        ),
        (
            "INTEGRATION_ENCRYPTION_PREVIOUS_KEYS",
            format!("{} key(s)", settings.previous_encryption_keys.len()),
        ),
        ("SESSION_KEY", "set".into()),
        ("SETUP_TOKEN", set(settings.setup_token.is_some()).into()),
        ("METRICS_TOKEN", set(settings.metrics_token.is_some()).into()),
        (
            "SLACK_SIGNING_SECRET",
            set(settings.slack_signing_secret.is_some()).into(),
        ),
        (
            "ADMIN_OIDC",
            settings.admin_sso.as_ref().map_or("not set".into(), |sso| {
                format!(
                    "{} (client id {}, secret set)",
                    sso.issuer, sso.credentials.client_id
                )
            }),
        ),
        ("PASSWORD_LOGIN", settings.password_login.to_string()),
        (
            "PROVIDERS_FILE",
            settings
                .providers_file
                .as_ref()
                .map_or("not set".into(), |p| format!("{} (valid)", p.display())),
        ),
    ];
    lines.extend(otel_lines(settings));
    for warning in &settings.startup_warnings {
        lines.push(("warning", warning.clone()));
    }
    for (name, value) in lines {
        println!("{name}: {value}");
    }
    println!("providers:");
    for def in catalogue.defs() {
        let client = match catalogue.get(&def.slug).and_then(|p| p.credentials.as_ref()) {
            Some(c) => format!("client id {}, secret set", c.client_id),
            None => "not configured".into(),
        };
        println!("  {} ({}): {client}", def.slug, def.name);
    }
    println!("configuration OK");
    Ok(())
}

/// Trace export: where to, under which name, and the names (never the values) of the headers.
fn otel_lines(settings: &Settings) -> Vec<(&'static str, String)> {
    let Some(otel) = &settings.otel else {
        return vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "not set (no traces)".into())];
    };
    let headers: Vec<String> = otel
        .headers
        .iter()
        .map(|(name, _)| format!("{name} (value set)"))
        .collect();
    vec![
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{} (OTLP/HTTP JSON)", otel.endpoint_redacted()),
        ),
        ("OTEL_SERVICE_NAME", otel.service_name.clone()),
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            format!("{} ms", otel.export_interval.as_millis()),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            if headers.is_empty() {
                "none".into()
            } else {
                headers.join(", ")
            },
        ),
    ]
}

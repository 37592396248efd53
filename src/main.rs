use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use targetym_integrations::accounts::{self, AccountError, NewAdminInput};
use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;
use targetym_integrations::operations;
use targetym_integrations::startup::Application;
use targetym_integrations::telemetry;

/// Targetym Integrations: connect an organization's external services through OAuth 2.0.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Apply pending database migrations and seed the provider catalogue, then exit.
    Migrate,
    /// Manage HR admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Service tokens of the internal API.
    ApiTokens {
        #[command(subcommand)]
        command: ApiTokensCommand,
    },
    /// Stored webhook events.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Manage the encryption keys of stored credentials.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent copy of the SQLite database to a new file (mode 0600) while the app
    /// serves. On PostgreSQL: prints the pg_dump command to use instead, and exits with 2.
    Backup { file: std::path::PathBuf },
    /// Replace the SQLite database with a backup, after checking it. Refused while an
    /// instance or another command has the database open.
    Restore { file: std::path::PathBuf },
    /// Exit 0 when the instance's /readyz answers 200, 1 otherwise.
    Healthcheck {
        /// What to ask (default: /readyz on BIND_ADDR's port).
        #[arg(long)]
        url: Option<String>,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the environment and the providers file; print what would be used, secrets
    /// redacted.
    Check,
}

#[derive(Subcommand)]
enum ApiTokensCommand {
    /// Create a service token for an organization; it is printed once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Limit the token to this integration (repeat for several); none: all of them.
        #[arg(long = "integration", value_name = "ID")]
        integrations: Vec<String>,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Set the platform's id of an organization (the internal API accepts it wherever it takes
    /// an organization), or remove it with --clear.
    SetExternalId {
        #[arg(long)]
        org: String,
        /// The platform's id: letters, digits, '.', '_', '-' or ':'.
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        external_id: Option<String>,
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Queue a stored webhook event again (the same entry: it is not duplicated).
    Replay {
        /// The event's id (shown on the integration's page).
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute each organization's hash chain; exit with 1 naming the first broken link
    /// when an event was changed, inserted or deleted outside the app.
    Verify {
        /// Only this organization (its id).
        #[arg(long)]
        org: Option<String>,
    },
    /// Print an organization's audit trail as JSON Lines with the hashes (what GET
    /// /audit.jsonl answers), oldest first; check it with deploy/verify-audit-export.py.
    Export {
        /// The organization's id.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored secret under INTEGRATION_ENCRYPTION_KEY (the old key stays in
    /// INTEGRATION_ENCRYPTION_PREVIOUS_KEYS until this has run). Safe while the app runs;
    /// can be interrupted and run again.
    Rotate,
    /// Open every stored secret with the configured keys; list those that do not open and
    /// exit with 1 if there are any. Run it before removing a key from
    /// INTEGRATION_ENCRYPTION_PREVIOUS_KEYS.
    Check,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin in a new organization (named by --org), or in an existing one with
    /// --join. The password is asked for at a terminal, or read from the first line of stdin.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// Add the admin to the existing organization of that name.
        #[arg(long)]
        join: bool,
    },
    /// Set a new password for an admin and sign out all their sessions. The password is asked
    /// for at a terminal, or read from the first line of stdin.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// List an organization's admins.
    List {
        #[arg(long)]
        org: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        return ExitCode::from(operations::healthcheck_command(url.as_deref()));
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(operations::EXIT_CONFIG);
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve));
    telemetry::init(settings.log_format, serving);
    for warning in &settings.startup_warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(settings)),
        Command::Migrate => runtime.block_on(migrate(settings)),
        Command::Admin {
            command: AdminCommand::Create { org, email, join },
        } => runtime.block_on(create_admin(settings, &org, &email, join)),
        Command::Admin {
            command: AdminCommand::ResetPassword { email },
        } => runtime.block_on(reset_password(settings, &email)),
        Command::Admin {
            command: AdminCommand::List { org },
        } => runtime.block_on(list_admins(settings, &org)),
        Command::Org {
            command: OrgCommand::SetExternalId { org, external_id, .. },
        } => runtime.block_on(set_external_id(settings, &org, external_id.as_deref())),
        Command::Keys {
            command: KeysCommand::Rotate,
        } => runtime.block_on(operations::rotate_keys(settings)),
        Command::Keys {
            command: KeysCommand::Check,
        } => runtime.block_on(operations::check_keys(settings)),
        Command::ApiTokens {
            command:
                ApiTokensCommand::Create {
                    org,
                    name,
                    integrations,
                },
        } => runtime.block_on(create_api_token(settings, &org, &name, &integrations)),
        Command::Webhooks {
            command: WebhooksCommand::Replay { id },
        } => runtime.block_on(replay_webhook(settings, &id)),
        Command::Audit {
            command: AuditCommand::Verify { org },
        } => runtime.block_on(operations::audit_verify(settings, org.as_deref())),
        Command::Audit {
            command: AuditCommand::Export { org },
        } => runtime.block_on(operations::audit_export(settings, &org)),
        Command::Backup { file } => operations::backup(&settings, &file),
        Command::Restore { file } => operations::restore(&settings, &file),
        Command::Config {
            command: ConfigCommand::Check,
        } => runtime.block_on(operations::config_check(&settings)),
        Command::Healthcheck { .. } => unreachable!("answered before the settings are read"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::from(operations::exit_code(&e))
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings).await?.run().await?;
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let (applied, changed) = AppContext::load(settings).await?.prepare_database().await?;
    println!("migrations applied: {applied}; catalogue rows changed: {changed}");
    Ok(())
}

async fn create_admin(settings: Settings, org: &str, email: &str, join: bool) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let password = read_password()?;
    let input = NewAdminInput::parse(org, email, password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (email, org) = (input.email.to_string(), input.org_name.as_str().to_owned());
    match accounts::create_admin(&ctx.db, input, join).await {
        Ok(org_id) => {
            println!("created admin {email} in organization {org} ({org_id})");
            Ok(())
        }
        Err(AccountError::EmailTaken) => anyhow::bail!("an account with the email {email} already exists"),
        Err(AccountError::OrgExists(admins)) => anyhow::bail!(
            "the organization {org} exists already (admins: {}); add --join to add {email} to it",
            admins.join(", ")
        ),
        Err(e) => Err(e.into()),
    }
}

async fn reset_password(settings: Settings, email: &str) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let password = read_password()?;
    match accounts::reset_password(&ctx.db, email, password).await {
        Ok(ended) => {
            println!(
                "new password set for {}; {ended} session(s) signed out",
                email.trim().to_lowercase()
            );
            Ok(())
        }
        Err(AccountError::UnknownAdmin) => anyhow::bail!("no admin has the email {email}"),
        Err(AccountError::Invalid(message)) => anyhow::bail!("{message}"),
        Err(e) => Err(e.into()),
    }
}

async fn list_admins(settings: Settings, org: &str) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let Some(admins) = accounts::list_admins(&ctx.db, org).await? else {
        anyhow::bail!("no organization is named {org}");
    };
    for admin in admins {
        let last = admin
            .last_login_at
            .map(targetym_integrations::domain::format_time)
            .unwrap_or_else(|| "never signed in".into());
        println!(
            "{}\tcreated {}\t{last}",
            admin.email,
            targetym_integrations::domain::format_time(admin.created_at)
        );
    }
    Ok(())
}

async fn set_external_id(settings: Settings, org: &str, external_id: Option<&str>) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    match accounts::set_external_id(&ctx.db, org, external_id).await {
        Ok(()) => {
            match external_id {
                Some(id) => println!("organization {org} has the external id {}", id.trim()),
                None => println!("organization {org} has no external id"),
            }
            Ok(())
        }
        Err(AccountError::UnknownOrganization) => anyhow::bail!("no organization is named {org}"),
        Err(AccountError::Invalid(message)) => anyhow::bail!("{message}"),
        Err(e) => Err(e.into()),
    }
}

async fn create_api_token(
    settings: Settings,
    org: &str,
    name: &str,
    integrations: &[String],
) -> anyhow::Result<()> {
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    let org_id = accounts::find_org_by_name(&ctx.db, org)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organization is named {org:?}"))?;
    anyhow::ensure!(!name.trim().is_empty(), "name the token");
    let limit_to = integrations
        .iter()
        .map(|id| {
            targetym_integrations::domain::IntegrationId::parse(id)
                .ok_or_else(|| anyhow::anyhow!("{id:?} is not an integration id"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (_, token) = targetym_integrations::api_tokens::create(
        &ctx.db,
        org_id,
        name,
        &targetym_integrations::domain::Actor::system(),
        &limit_to,
    )
    .await
    .map_err(|e| match e {
        targetym_integrations::api_tokens::CreateTokenError::UnknownIntegration => {
            anyhow::anyhow!("an --integration is not a connected integration of {org:?}")
        }
        other => other.into(),
    })?;
    println!("{token}");
    Ok(())
}

async fn replay_webhook(settings: Settings, id: &str) -> anyhow::Result<()> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| anyhow::anyhow!("{id:?} is not an event id"))?
        .to_string();
    let ctx = AppContext::load(settings).await?;
    ctx.prepare_database().await?;
    anyhow::ensure!(
        targetym_integrations::integrations::webhook_endpoints::replay(&ctx, None, &id).await?,
        "no finished webhook event has the id {id}"
    );
    println!("event {id} is queued again");
    Ok(())
}

fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = SecretString::from(rpassword::prompt_password("Password: ")?);
        let again = SecretString::from(rpassword::prompt_password("Repeat the password: ")?);
        anyhow::ensure!(
            first.expose_secret() == again.expose_secret(),
            "the two passwords do not match"
        );
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(SecretString::from(line.trim_end_matches(['\r', '\n'])))
}

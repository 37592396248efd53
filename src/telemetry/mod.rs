//! Structured logs: JSON lines in production, readable lines locally. RUST_LOG filters.
//! Traces, when an OTLP endpoint is set: [`trace`].
//!
//! `serve` in JSON writes its log to stdout and nothing else goes there, so a container's log
//! is one JSON object per line; its first line names the version and commit. Otherwise (local
//! readable lines, and the CLI commands, whose stdout is their answer) the log goes to stderr.

mod otlp;
mod span;
pub mod trace;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The version of this build (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit this build was made from (build.rs: GIT_COMMIT, git, or "unknown").
pub const COMMIT: &str = env!("TARGETYM_COMMIT");

pub fn init(format: LogFormat, serving: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let to_stdout = serving && format == LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(!to_stdout && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(move || -> Box<dyn std::io::Write> {
            if to_stdout {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::io::stderr())
            }
        });
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    if result.is_ok() && serving {
        tracing::info!(
            version = VERSION,
            commit = COMMIT,
            "targetym-integrations starting"
        );
    }
}

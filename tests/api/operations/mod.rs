//! What operators run besides `serve`, against the real binary: backup and restore, file
//! modes, the health check, the configuration check, `_FILE` secrets, migrations kept apart,
//! and the exit codes.

mod backup;
mod commands;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::faults::BINARY;

/// Runs the binary with only `vars` (and PATH) in its environment, in `dir`.
pub(crate) fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A port nothing listens on (bound, read, released).
#[allow(dead_code)]
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

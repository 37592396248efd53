//! Which certificate authorities the calls to providers trust (`TLS_ROOTS`).

use super::ConfigError;
use super::vars::Vars;

/// The root certificates of outbound TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRoots {
    /// Mozilla's, built into the binary (webpki-roots): the same on every host.
    Bundled,
    /// The operating system's store (also `SSL_CERT_FILE` / `SSL_CERT_DIR`): where a
    /// corporate TLS-inspecting proxy's authority is installed.
    System,
    /// Both.
    Both,
}

pub(super) fn tls_roots(v: &Vars) -> Result<TlsRoots, ConfigError> {
    match v.text("TLS_ROOTS") {
        None | Some("bundled") => Ok(TlsRoots::Bundled),
        Some("system") => Ok(TlsRoots::System),
        Some("both") => Ok(TlsRoots::Both),
        Some(other) => Err(ConfigError(format!(
            "TLS_ROOTS must be bundled, system or both (got {other:?})"
        ))),
    }
}

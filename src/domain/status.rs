use super::text_enum;

text_enum! {
    /// Where one integration stands. Stored in `integrations.status`.
    IntegrationStatus {
        Pending => "pending",
        Connected => "connected",
        Refreshing => "refreshing",
        Degraded => "degraded",
        NeedsReauth => "needs_reauth",
        Error => "error",
        Disconnected => "disconnected",
    }
}

impl IntegrationStatus {
    /// The integration holds usable credentials (a connection an admin would call "live").
    pub fn is_live(self) -> bool {
        matches!(
            self,
            IntegrationStatus::Connected | IntegrationStatus::Refreshing | IntegrationStatus::Degraded
        )
    }
}

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
    /// The statuses with usable credentials: those the worker keeps fresh.
    pub const LIVE: [IntegrationStatus; 3] = [
        IntegrationStatus::Connected,
        IntegrationStatus::Degraded,
        IntegrationStatus::Refreshing,
    ];

    /// The integration holds usable credentials (a connection an admin would call "live").
    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }
}

text_enum! {
    /// What a sync-log row records (the operational log; who did what is the audit trail's,
    /// `AuditKind`). Stored in `sync_logs.kind`.
    LogKind {
        Refresh => "refresh",
        /// A token without expiry checked with the provider's identity call.
        Validate => "validate",
        /// A queued sync of an integration (scheduled, or asked for).
        Sync => "sync",
        /// A verified webhook delivery, stored before it was acknowledged.
        WebhookEvent => "webhook_event",
        /// A call of the internal API by another Targetym service.
        ApiCall => "api_call",
        /// Register a Google watch channel for an integration.
        Watch => "watch",
    }
}

text_enum! {
    /// Where a sync-log row stands: a job waits or runs; an entry (or a finished job) has an
    /// outcome. Stored in `sync_logs.status`.
    LogStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

text_enum! {
    /// Where a webhook endpoint stands. Stored in `integration_webhooks.status`.
    WebhookStatus {
        Active => "active",
        /// A Google channel being replaced by a new one.
        Renewing => "renewing",
        Stopped => "stopped",
    }
}

text_enum! {
    /// An account in a connected service's directory. Stored in `directory_entries.state`.
    DirectoryState {
        Active => "active",
        /// Suspended at the provider, or no longer listed by a complete pass.
        Deactivated => "deactivated",
        /// The provider said it was deleted (a delta removal).
        Deleted => "deleted",
    }
}

text_enum! {
    /// What happened to an account, in the directory change feed.
    DirectoryChange {
        Created => "created",
        Updated => "updated",
        Deactivated => "deactivated",
        Deleted => "deleted",
    }
}

text_enum! {
    /// Which list of a provider a directory pass reads. Stored in `directory_syncs.source`.
    DirectorySource {
        /// The provider's whole member list, every pass (Slack).
        FullList => "full_list",
        /// Google Workspace's Admin SDK `users.list` (a Workspace administrator's grant).
        AdminDirectory => "admin_directory",
        /// Google People API `people.listDirectoryPeople`: full, then by sync token.
        PeopleDirectory => "people_directory",
        /// Microsoft Graph `/users/delta`: full, then by delta link.
        GraphDelta => "graph_delta",
    }
}

impl DirectorySource {
    /// What the People page says of the list a directory was read from.
    pub fn label(self) -> &'static str {
        match self {
            DirectorySource::FullList => "the member list",
            DirectorySource::AdminDirectory => "the Admin SDK directory",
            DirectorySource::PeopleDirectory => {
                "the People API directory (no Workspace administrator consent: suspended accounts are not listed)"
            }
            DirectorySource::GraphDelta => "Microsoft Graph, changes only after the first pass",
        }
    }
}

text_enum! {
    /// What the platform says of a person's employment (`people_employment.status`).
    Employment {
        Active => "active",
        Leaver => "leaver",
    }
}

// Written by hand with portable types (Text, Timestamp, Binary, Bool, Integer, BigInt) so that
// one schema serves SQLite and PostgreSQL; it mirrors migrations/{sqlite,postgres}.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    instance_setup (id) {
        id -> Integer,
        completed_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_providers (slug) {
        slug -> Text,
        name -> Text,
        category -> Text,
        description -> Text,
        brand_color -> Text,
        auth_kind -> Text,
        authorize_url -> Text,
        token_url -> Text,
        revoke_url -> Nullable<Text>,
        identity_url -> Nullable<Text>,
        issuer -> Nullable<Text>,
        jwks_url -> Nullable<Text>,
        api_base_url -> Text,
        default_scopes -> Text,
        scope_separator -> Text,
        pkce -> Bool,
        token_auth_method -> Text,
        extra_auth_params -> Text,
        webhook_kind -> Text,
        docs_url -> Text,
        position -> Integer,
        builtin -> Bool,
        enabled -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    integrations (id) {
        id -> Text,
        org_id -> Text,
        provider_slug -> Text,
        status -> Text,
        external_account_id -> Text,
        external_account_name -> Text,
        granted_scopes -> Text,
        connected_by -> Nullable<Text>,
        connected_at -> Nullable<Timestamp>,
        disconnected_at -> Nullable<Timestamp>,
        last_refresh_at -> Nullable<Timestamp>,
        last_sync_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        next_refresh_at -> Nullable<Timestamp>,
        refresh_failures -> Integer,
        sync_interval_minutes -> Nullable<Integer>,
        next_sync_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        lease_generation -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        refresh_sent -> Nullable<Text>,
        refresh_sent_at -> Nullable<Timestamp>,
        last_validated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_credentials (integration_id) {
        integration_id -> Text,
        key_id -> Text,
        access_token -> Binary,
        refresh_token -> Nullable<Binary>,
        token_type -> Text,
        scope -> Text,
        expires_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    integration_webhooks (id) {
        id -> Text,
        org_id -> Text,
        integration_id -> Nullable<Text>,
        provider_slug -> Text,
        external_id -> Text,
        resource_id -> Nullable<Text>,
        key_id -> Nullable<Text>,
        secret -> Nullable<Binary>,
        status -> Text,
        expires_at -> Nullable<Timestamp>,
        received_count -> BigInt,
        rejected_count -> BigInt,
        last_event_at -> Nullable<Timestamp>,
        rate_limit_per_minute -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        channel_kind -> Nullable<Text>,
        dropped_count -> BigInt,
        handshake_opened_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        org_id -> Text,
        seq -> BigInt,
        kind -> Text,
        outcome -> Text,
        actor -> Text,
        actor_user_id -> Nullable<Text>,
        integration_id -> Nullable<Text>,
        provider_slug -> Text,
        source -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    audit_chains (org_id) {
        org_id -> Text,
        head_seq -> BigInt,
        head_hash -> Text,
        head_at -> Nullable<Timestamp>,
        anchor_seq -> BigInt,
        anchor_hash -> Text,
        anchor_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_seal_pending (id) {
        id -> Integer,
    }
}

diesel::table! {
    integration_sync_logs (id) {
        id -> Text,
        org_id -> Text,
        integration_id -> Nullable<Text>,
        provider_slug -> Text,
        kind -> Text,
        status -> Text,
        message -> Text,
        error -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        payload -> Nullable<Binary>,
        attempts -> Integer,
        max_attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        actor_user_id -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    integration_consents (id) {
        id -> Text,
        org_id -> Text,
        user_id -> Nullable<Text>,
        provider_slug -> Text,
        integration_id -> Nullable<Text>,
        scopes -> Text,
        consent_text_version -> Text,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        granted_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_oauth_states (id) {
        id -> Text,
        state_hash -> Text,
        org_id -> Text,
        user_id -> Text,
        provider_slug -> Text,
        integration_id -> Nullable<Text>,
        consent_id -> Nullable<Text>,
        session_binding -> Text,
        key_id -> Nullable<Text>,
        pkce_verifier -> Nullable<Binary>,
        nonce -> Nullable<Text>,
        scopes -> Text,
        redirect_after -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        restricted -> Bool,
        calls_unsummarized -> BigInt,
        failures_unsummarized -> BigInt,
        summarized_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_token_integrations (token_id, integration_id) {
        token_id -> Text,
        integration_id -> Text,
    }
}

diesel::table! {
    admin_sessions (id) {
        id -> Text,
        user_id -> Text,
        org_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_invitations (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    directory_entries (id) {
        id -> Text,
        org_id -> Text,
        integration_id -> Text,
        external_id -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        state -> Text,
        content_hash -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
        changed_at -> Timestamp,
        written_by_pass -> Nullable<Text>,
    }
}

diesel::table! {
    directory_syncs (integration_id) {
        integration_id -> Text,
        org_id -> Text,
        pass_id -> Nullable<Text>,
        next_cursor -> Nullable<Text>,
        pages_read -> Integer,
        entries_seen -> Integer,
        entries_written -> Integer,
        started_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        updated_at -> Timestamp,
        resume_token -> Nullable<Text>,
        source -> Nullable<Text>,
    }
}

diesel::table! {
    directory_targets (integration_id) {
        integration_id -> Text,
        org_id -> Text,
        target -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    directory_feed_heads (org_id) {
        org_id -> Text,
        last_seq -> BigInt,
    }
}

diesel::table! {
    directory_changes (org_id, seq) {
        org_id -> Text,
        seq -> BigInt,
        integration_id -> Text,
        external_id -> Text,
        email -> Nullable<Text>,
        change -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    people_employment (org_id, email) {
        org_id -> Text,
        email -> Text,
        status -> Text,
        since -> Nullable<Date>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    directory_pass_seen (integration_id, external_id) {
        integration_id -> Text,
        external_id -> Text,
    }
}

diesel::joinable!(users -> organizations (org_id));
diesel::joinable!(directory_entries -> integrations (integration_id));
diesel::joinable!(admin_sessions -> users (user_id));
diesel::joinable!(integrations -> organizations (org_id));
diesel::joinable!(integrations -> integration_providers (provider_slug));
diesel::joinable!(integration_credentials -> integrations (integration_id));
diesel::joinable!(integration_webhooks -> integrations (integration_id));
diesel::joinable!(integration_sync_logs -> integrations (integration_id));
diesel::joinable!(integration_consents -> integrations (integration_id));
diesel::joinable!(api_token_integrations -> api_tokens (token_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    directory_entries,
    directory_syncs,
    directory_targets,
    directory_pass_seen,
    people_employment,
    directory_feed_heads,
    directory_changes,
    admin_invitations,
    instance_setup,
    users,
    integration_providers,
    integrations,
    integration_credentials,
    integration_webhooks,
    integration_sync_logs,
    integration_consents,
    integration_oauth_states,
    api_tokens,
    api_token_integrations,
    admin_sessions,
    audit_events,
    audit_chains,
);

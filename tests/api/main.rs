//! The whole HTTP suite, one binary: each test spawns the real app on port 0 with a fresh
//! database (a temporary SQLite file, or a fresh PostgreSQL schema when TEST_DATABASE_URL
//! is set).

mod helpers;

mod access;
mod admin_ui;
mod adversarial;
mod audit_trail;
mod auth;
mod catalogue;
mod cli;
mod contracts;
mod cross_org;
mod csrf;
mod database;
mod directory;
mod directory_incremental;
mod directory_providers;
mod env_example;
pub(crate) mod faults;
mod hardening;
mod integrations_page;
mod internal_api;
mod keys;
mod layers;
mod oauth;
mod oauth_helpers;
mod openapi;
mod operations;
mod people_page;
mod platform;
mod providers_file;
mod sessions;
mod setup;
mod snapshots;
mod sso;
mod team;
mod webhook_security;
mod webhooks;
mod worker;

//! Targetym Integrations: the integration hub of the Targetym HR platform.
//!
//! Data flows one way: `web` -> `accounts`/`integrations` -> (`db`, `crypto`, `providers`).

pub mod accounts;
pub mod api_tokens;
pub mod config;
pub mod context;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod integrations;
pub mod metrics;
pub mod oauth;
pub mod operations;
pub mod providers;
pub mod runtime;
pub mod startup;
pub mod telemetry;
pub mod web;
pub mod webhooks;
pub mod worker;

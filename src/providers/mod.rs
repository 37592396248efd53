//! Providers: the catalogue of what can be connected.

pub mod catalogue;

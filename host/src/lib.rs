//! LiveDesk: a routing host for the API channels of a help desk.
//!
//! Data flows one way: `.livedesk` text ([`dsl`]) → validated [`config`] →
//! decisions of the [`routing`] engine, which uses [`hours`] and the plain
//! data of [`model`].

pub mod api;
pub mod chatwoot;
pub mod clock;
pub mod config;
pub mod csat;
pub mod daemon;
pub mod desk;
pub mod diagnostics;
pub mod dsl;
pub mod greeting;
pub mod hours;
pub mod identity;
pub mod live;
pub mod metrics;
pub mod model;
pub mod network;
pub mod plugins;
pub mod reports;
pub mod routing;
pub mod scenarios;
pub mod source;
pub mod store;
pub mod webhooks;

//! Chatwoot's JSON, as LiveDesk speaks it: the views of contacts,
//! conversations and messages the APIs answer with ([`views`], re-exported
//! here), the webhook events with their payloads ([`events`]), and what
//! the realtime socket broadcasts ([`broadcasts`]). One
//! concept in one place, so that wire compatibility is checked where it is
//! made.

pub mod broadcasts;
pub mod events;
pub mod views;

pub use views::*;

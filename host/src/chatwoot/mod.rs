//! Chatwoot's JSON, as LiveDesk speaks it: the views of contacts,
//! conversations and messages the APIs answer with ([`views`], re-exported
//! here), and the webhook events with their payloads ([`events`]). One
//! concept in one place, so that wire compatibility is checked where it is
//! made.

pub mod events;
pub mod views;

pub use views::*;

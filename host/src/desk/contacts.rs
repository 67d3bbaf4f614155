//! Contacts of the client API, with user identity validation.
//!
//! A contact belongs to one inbox and is addressed by its `source_id`,
//! which the front end keeps as the user's credential. When the channel
//! validates identity, creating or changing a contact needs the
//! `identifier_hash` of its identifier; a wrong hash is refused (401) and
//! nothing is written.

use serde::Deserialize;

use super::runtime::{InboxRuntime, generate_token};
use super::work::Work;
use super::{Desk, Error, Result};
use crate::identity;
use crate::model::CustomAttributes;
use crate::store::ContactRecord;

/// Longest name, email, phone number, identifier or URL accepted.
pub const MAX_FIELD: usize = 1024;

/// The body of `POST`/`PATCH …/contacts`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ContactInput {
    pub identifier: Option<String>,
    pub identifier_hash: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone_number: Option<String>,
    pub avatar_url: Option<String>,
    pub custom_attributes: Option<CustomAttributes>,
    pub source_id: Option<String>,
}

impl ContactInput {
    /// The checks every contact call makes before it touches storage.
    pub fn check(&self) -> Result<()> {
        let fields = [
            ("identifier", &self.identifier),
            ("identifier_hash", &self.identifier_hash),
            ("email", &self.email),
            ("name", &self.name),
            ("phone_number", &self.phone_number),
            ("avatar_url", &self.avatar_url),
            ("source_id", &self.source_id),
        ];
        for (name, value) in fields {
            // Characters, as JSON Schema's `maxLength` counts them.
            if value
                .as_ref()
                .is_some_and(|v| v.len() > MAX_FIELD && v.chars().count() > MAX_FIELD)
            {
                return Err(Error::Invalid(format!(
                    "`{name}` is longer than {MAX_FIELD} characters"
                )));
            }
        }
        if let Some(email) = &self.email {
            if !email.is_empty() && !email.contains('@') {
                return Err(Error::Invalid(format!(
                    "`email` is not an email address: `{email}`"
                )));
            }
        }
        if self.source_id.as_deref() == Some("") {
            return Err(Error::Invalid("`source_id` is empty".into()));
        }
        Ok(())
    }

    /// Copies the fields that were sent onto `contact`.
    fn apply(self, contact: &mut ContactRecord) {
        let keep = |field: &mut Option<String>, value: Option<String>| {
            if value.is_some() {
                *field = value;
            }
        };
        keep(&mut contact.identifier, self.identifier);
        keep(&mut contact.email, self.email);
        keep(&mut contact.name, self.name);
        keep(&mut contact.phone_number, self.phone_number);
        keep(&mut contact.avatar_url, self.avatar_url);
        if let Some(attributes) = self.custom_attributes {
            contact.custom_attributes.extend(attributes);
        }
    }
}

/// Checks `hash` against `identifier` when the inbox validates identity.
fn check_identity(
    inbox: &InboxRuntime,
    identifier: Option<&str>,
    hash: Option<&str>,
) -> Result<()> {
    let Some((secret, required)) = &inbox.identity else {
        return Ok(());
    };
    match (identifier, hash) {
        (Some(identifier), Some(hash)) if identity::verify(secret, identifier, hash) => Ok(()),
        (Some(_), Some(_)) => Err(Error::Unauthorized(
            "`identifier_hash` does not match `identifier`".into(),
        )),
        (None, Some(_)) => Err(Error::Unauthorized(
            "`identifier_hash` was sent without an `identifier`".into(),
        )),
        (_, None) if *required => Err(Error::Unauthorized(
            "this inbox requires identity validation: send `identifier` and `identifier_hash`"
                .into(),
        )),
        (_, None) => Ok(()),
    }
}

fn inbox<'a>(work: &Work<'a>, inbox: i64) -> Result<&'a InboxRuntime> {
    work.rt.inbox_by_id(inbox).ok_or(Error::NotFound("inbox"))
}

/// The contact `source_id` names in `inbox`.
pub(super) fn find(work: &mut Work<'_>, inbox: i64, source_id: &str) -> Result<ContactRecord> {
    work.contact_by_source(inbox, source_id)
}

impl Desk {
    /// Creates a contact; a contact of the same identifier (or source id)
    /// in the inbox is updated and returned instead, as Chatwoot does.
    pub async fn create_contact(
        &self,
        inbox_id: i64,
        input: ContactInput,
    ) -> Result<ContactRecord> {
        input.check()?;
        self.work(move |work| {
            let inbox = inbox(work, inbox_id)?;
            check_identity(
                inbox,
                input.identifier.as_deref(),
                input.identifier_hash.as_deref(),
            )?;
            let existing = match (&input.source_id, &input.identifier) {
                (Some(source_id), _) => work.tx.contact_by_source(inbox_id, source_id)?,
                (None, Some(identifier)) => work.tx.contact_by_identifier(inbox_id, identifier)?,
                (None, None) => None,
            };
            if let Some(mut contact) = existing {
                input.clone().apply(&mut contact);
                contact.updated_at = work.now;
                work.update_contact(&contact)?;
                return Ok(contact);
            }
            let mut contact = ContactRecord {
                id: 0,
                inbox_id,
                source_id: input.source_id.clone().unwrap_or_else(generate_token),
                pubsub_token: generate_token(),
                identifier: None,
                name: None,
                email: None,
                phone_number: None,
                avatar_url: None,
                custom_attributes: CustomAttributes::new(),
                created_at: work.now,
                updated_at: work.now,
            };
            input.clone().apply(&mut contact);
            Ok(work.tx.insert_contact(&contact)?)
        })
        .await
    }

    pub async fn contact(&self, inbox_id: i64, source_id: String) -> Result<ContactRecord> {
        self.work(move |work| find(work, inbox_id, &source_id))
            .await
    }

    pub async fn update_contact(
        &self,
        inbox_id: i64,
        source_id: String,
        input: ContactInput,
    ) -> Result<ContactRecord> {
        input.check()?;
        self.work(move |work| {
            let inbox = inbox(work, inbox_id)?;
            let mut contact = find(work, inbox_id, &source_id)?;
            let identifier = input
                .identifier
                .as_deref()
                .or(contact.identifier.as_deref());
            check_identity(inbox, identifier, input.identifier_hash.as_deref())?;
            input.clone().apply(&mut contact);
            contact.updated_at = work.now;
            work.update_contact(&contact)?;
            Ok(contact)
        })
        .await
    }

    /// A page of contacts for the agent API, and how many there are.
    pub async fn contacts_page(&self, page: u32) -> Result<(Vec<ContactRecord>, u64)> {
        let page = page.max(1);
        self.work(move |work| {
            Ok(work.tx.contacts(
                super::PAGE_SIZE,
                (page - 1).saturating_mul(super::PAGE_SIZE),
            )?)
        })
        .await
    }
}

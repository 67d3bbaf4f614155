//! Contacts, by id, by source id within an inbox, and by identifier.

use super::tx::{PgTx, big};
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Contacts for PgTx<'_, '_> {
    fn insert_contact(&mut self, c: &ContactRecord) -> Result<ContactRecord> {
        let id = self.insert(
            "INSERT INTO contacts (inbox_id, source_id, pubsub_token, identifier, name, email,
                 phone_number, avatar_url, custom_attributes, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &c.inbox_id,
                &c.source_id,
                &c.pubsub_token,
                &c.identifier,
                &c.name,
                &c.email,
                &c.phone_number,
                &c.avatar_url,
                &to_json(&c.custom_attributes)?,
                &ms(c.created_at),
                &ms(c.updated_at),
            ],
        )?;
        Ok(ContactRecord { id, ..c.clone() })
    }

    fn contact(&mut self, id: i64) -> Result<Option<ContactRecord>> {
        self.one(
            concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts WHERE id = $1"
            ),
            &[&id],
            contact,
        )
    }

    fn contact_by_source(&mut self, inbox: i64, source_id: &str) -> Result<Option<ContactRecord>> {
        self.one(
            concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts WHERE inbox_id = $1 AND source_id = $2"
            ),
            &[&inbox, &source_id],
            contact,
        )
    }

    fn contact_by_identifier(
        &mut self,
        inbox: i64,
        identifier: &str,
    ) -> Result<Option<ContactRecord>> {
        self.one(
            concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts WHERE inbox_id = $1 AND identifier = $2 ORDER BY id LIMIT 1"
            ),
            &[&inbox, &identifier],
            contact,
        )
    }

    fn update_contact(&mut self, c: &ContactRecord) -> Result<()> {
        self.exec(
            "UPDATE contacts SET identifier = $2, name = $3, email = $4, phone_number = $5,
                 avatar_url = $6, custom_attributes = $7, updated_at = $8
             WHERE id = $1",
            &[
                &c.id,
                &c.identifier,
                &c.name,
                &c.email,
                &c.phone_number,
                &c.avatar_url,
                &to_json(&c.custom_attributes)?,
                &ms(c.updated_at),
            ],
        )
        .map(drop)
    }

    fn contacts(&mut self, limit: u32, offset: u32) -> Result<(Vec<ContactRecord>, u64)> {
        let page = self.all(
            concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts ORDER BY id LIMIT $1 OFFSET $2"
            ),
            &[&big(limit), &big(offset)],
            contact,
        )?;
        Ok((page, self.count("SELECT COUNT(*) FROM contacts", &[])?))
    }

    fn contact_by_pubsub_token(&mut self, token: &str) -> Result<Option<ContactRecord>> {
        self.one(
            concat!(
                "SELECT ",
                contact_columns!(),
                " FROM contacts WHERE pubsub_token = $1"
            ),
            &[&token],
            contact,
        )
    }
}

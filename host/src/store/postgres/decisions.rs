//! Routing decisions.

use super::tx::PgTx;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Decisions for PgTx<'_, '_> {
    fn insert_decision(&mut self, d: &DecisionRecord) -> Result<i64> {
        self.insert(
            "INSERT INTO decisions (conversation_id, revision, tier, outcome, trace, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &d.conversation_id,
                &d.revision,
                &d.tier,
                &d.outcome,
                &to_json(&d.trace)?,
                &ms(d.created_at),
            ],
        )
    }

    fn decisions(&mut self, conversation: i64) -> Result<Vec<DecisionRecord>> {
        self.all(
            concat!(
                "SELECT ",
                decision_columns!(),
                " FROM decisions WHERE conversation_id = $1 ORDER BY id"
            ),
            &[&conversation],
            decision,
        )
    }
}

//! Customer satisfaction surveys: the rules of answering. Their report is
//! [`reports::csat`](crate::reports::csat).
//!
//! A channel with `csat on` sends one survey (`content_type: input_csat`)
//! when a conversation is resolved — once per conversation, however often
//! it is reopened. The customer answers with a rating from 1 to 5 and
//! optional feedback within 14 days; answering again overwrites.

pub const CONTENT_TYPE: &str = "input_csat";
pub const SURVEY_TEXT: &str = "Please rate the conversation";
/// How long after it is sent a survey can be answered.
pub const ANSWER_WINDOW_DAYS: i64 = 14;

/// The rating as stored, or why it is not one.
pub fn check_rating(rating: i64) -> Result<u8, String> {
    u8::try_from(rating)
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| format!("`rating` must be from 1 to 5, not {rating}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_outside_one_to_five_are_refused() {
        assert!(check_rating(0).is_err());
        assert!(check_rating(6).is_err());
        assert!(check_rating(-1).is_err());
        assert_eq!(check_rating(1), Ok(1));
        assert_eq!(check_rating(5), Ok(5));
    }
}

//! The CSAT report: surveys sent, responses, response rate, average,
//! satisfaction score and the rating distribution, by channel and agent.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::CsatRecord;

/// Survey figures for one group of surveys.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub sent: u64,
    pub responses: u64,
    /// Responses per survey sent, 0 to 1.
    pub response_rate: f64,
    /// Mean rating of the responses; absent without responses.
    pub average_rating: Option<f64>,
    /// Share of responses rating 4 or 5, 0 to 1; absent without responses.
    pub satisfaction_score: Option<f64>,
    /// Responses per rating, `"1"` to `"5"`.
    pub distribution: BTreeMap<String, u64>,
}

impl Figures {
    fn of<'a>(surveys: impl IntoIterator<Item = &'a CsatRecord>) -> Self {
        let mut figures = Figures {
            distribution: (1..=5).map(|r| (r.to_string(), 0)).collect(),
            ..Figures::default()
        };
        let (mut sum, mut satisfied) = (0u64, 0u64);
        for survey in surveys {
            figures.sent += 1;
            if let Some(rating) = survey.rating {
                figures.responses += 1;
                sum += u64::from(rating);
                satisfied += u64::from(rating >= 4);
                *figures.distribution.entry(rating.to_string()).or_default() += 1;
            }
        }
        if figures.sent > 0 {
            figures.response_rate = figures.responses as f64 / figures.sent as f64;
        }
        if figures.responses > 0 {
            figures.average_rating = Some(sum as f64 / figures.responses as f64);
            figures.satisfaction_score = Some(satisfied as f64 / figures.responses as f64);
        }
        figures
    }
}

/// The CSAT report: all surveys, then by channel and by agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub total: Figures,
    pub by_channel: BTreeMap<String, Figures>,
    /// By the agent who had the conversation when it was resolved;
    /// surveys of conversations without one are under `"unassigned"`.
    pub by_agent: BTreeMap<String, Figures>,
}

/// Builds the report of `surveys`; `channel_of` names an inbox.
pub fn report(surveys: &[CsatRecord], channel_of: impl Fn(i64) -> String) -> Report {
    let mut by_channel: BTreeMap<String, Vec<&CsatRecord>> = BTreeMap::new();
    let mut by_agent: BTreeMap<String, Vec<&CsatRecord>> = BTreeMap::new();
    for survey in surveys {
        by_channel
            .entry(channel_of(survey.inbox_id))
            .or_default()
            .push(survey);
        by_agent
            .entry(
                survey
                    .assignee
                    .clone()
                    .unwrap_or_else(|| "unassigned".into()),
            )
            .or_default()
            .push(survey);
    }
    Report {
        total: Figures::of(surveys),
        by_channel: by_channel
            .into_iter()
            .map(|(k, v)| (k, Figures::of(v)))
            .collect(),
        by_agent: by_agent
            .into_iter()
            .map(|(k, v)| (k, Figures::of(v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn survey(inbox: i64, assignee: Option<&str>, rating: Option<u8>) -> CsatRecord {
        CsatRecord {
            conversation_id: 1,
            message_id: 1,
            inbox_id: inbox,
            assignee: assignee.map(str::to_owned),
            rating,
            feedback: None,
            sent_at: Utc::now(),
            answered_at: None,
        }
    }

    #[test]
    fn report_counts_exactly() {
        let surveys = [
            survey(1, Some("a"), Some(5)),
            survey(1, Some("a"), Some(4)),
            survey(1, Some("b"), Some(2)),
            survey(2, None, None),
        ];
        let report = report(&surveys, |inbox| format!("inbox {inbox}"));
        assert_eq!(report.total.sent, 4);
        assert_eq!(report.total.responses, 3);
        assert_eq!(report.total.response_rate, 0.75);
        assert_eq!(report.total.average_rating, Some(11.0 / 3.0));
        assert_eq!(report.total.satisfaction_score, Some(2.0 / 3.0));
        assert_eq!(report.total.distribution["5"], 1);
        assert_eq!(report.total.distribution["3"], 0);
        assert_eq!(report.by_agent["a"].average_rating, Some(4.5));
        assert_eq!(report.by_agent["unassigned"].responses, 0);
        assert_eq!(report.by_agent["unassigned"].average_rating, None);
        assert_eq!(report.by_channel["inbox 2"].sent, 1);
    }
}

//! Human auto-assignment: who in a pool gets the conversation.
//!
//! Only agents who are online and under their capacity are eligible.
//! `least_load` picks the fewest open conversations, then whoever has waited
//! longest since their last assignment, then the pool's order.
//! `round_robin` goes round the pool in order, starting after the agent who
//! was picked last, and skips whoever is not eligible.

use super::AgentStates;
use super::trace::{Candidate, Selection};
use crate::config::{AgentId, Config, Policy};
use crate::model::Availability;

pub(super) fn select(
    config: &Config,
    policy: Policy,
    pool: &[AgentId],
    states: &dyn AgentStates,
    last_picked: Option<AgentId>,
) -> Selection {
    let candidates: Vec<Candidate> = pool
        .iter()
        .map(|&agent| {
            let state = states.state(agent);
            let capacity = config.agent(agent).capacity;
            Candidate {
                agent,
                availability: state.availability,
                open_conversations: state.open_conversations,
                capacity,
                last_assigned_at: state.last_assigned_at,
                eligible: state.availability == Availability::Online
                    && state.open_conversations < capacity,
            }
        })
        .collect();
    let picked = match policy {
        Policy::LeastLoad => candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.eligible)
            // `None` (never assigned) sorts before any instant: longest wait.
            .min_by_key(|(i, c)| (c.open_conversations, c.last_assigned_at, *i))
            .map(|(_, c)| c.agent),
        Policy::RoundRobin => {
            let start = last_picked
                .and_then(|last| pool.iter().position(|a| *a == last))
                .map_or(0, |i| i + 1);
            (0..candidates.len())
                .map(|step| (start + step) % candidates.len())
                .find_map(|i| candidates.get(i).filter(|c| c.eligible).map(|c| c.agent))
        }
    };
    Selection {
        policy,
        candidates,
        picked,
    }
}

//! Agents and teams.

use super::*;

impl Lowerer<'_> {
    pub(super) fn agent(&mut self, b: &Block<ast::AgentSetting>) -> Agent {
        let (mut name, mut capacity, mut token, mut availability) = (None, None, None, None);
        for s in &b.settings {
            match &s.value {
                ast::AgentSetting::Name(n) => self.once(&mut name, n.value.clone(), s.span, "name"),
                ast::AgentSetting::Capacity(c) => {
                    let value = match u32::try_from(c.value) {
                        Ok(0) | Err(_) => {
                            self.findings.push(
                                Finding::error(Code::BadCapacity, "capacity must be between 1 and 4294967295")
                                    .at(c.span, "out of range")
                                    .help("capacity is how many conversations the agent may have open at once"),
                            );
                            1
                        }
                        Ok(n) => n,
                    };
                    self.once(&mut capacity, value, s.span, "capacity");
                }
                ast::AgentSetting::Token(v) => {
                    let secret = self.secret(v, "the agent's API token", true);
                    self.once(&mut token, secret, s.span, "token");
                }
                ast::AgentSetting::Availability(a) => {
                    // The grammar admits only the three words.
                    let value = Availability::parse(&a.value).unwrap_or_default();
                    self.once(&mut availability, value, s.span, "availability");
                }
            }
        }
        Agent {
            email: b.name.value.clone(),
            display_name: name.map_or_else(|| b.name.value.clone(), |(n, _)| n),
            capacity: capacity.map_or(DEFAULT_CAPACITY, |(c, _)| c),
            token: token.map(|(t, _)| t),
            availability: availability.map_or(Availability::Offline, |(a, _)| a),
            span: b.name.span,
        }
    }

    pub(super) fn team(&mut self, b: &Block<ast::TeamSetting>, agents: &[&str]) -> Team {
        let mut members = Vec::new();
        for s in &b.settings {
            let ast::TeamSetting::Agents(list) = &s.value;
            for name in list {
                if let Some(i) = self.resolve("agent", Code::UnknownAgent, name, agents) {
                    if !members.contains(&AgentId(i)) {
                        members.push(AgentId(i));
                    }
                }
            }
        }
        Team {
            name: b.name.value.clone(),
            agents: members,
            span: b.name.span,
        }
    }
}

/// The default capacity: what Chatwoot's auto-assignment uses when no
/// limit is set is "unlimited"; a bound keeps one agent from drowning.
pub const DEFAULT_CAPACITY: u32 = 10;

//! "Did you mean …?" for misspelled names.

/// The closest candidate to `wanted`, if one is close enough to be a typo.
///
/// Closeness is Levenshtein distance, allowing about one edit per three
/// characters (at least one), compared case-insensitively.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let budget = (wanted.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (strsim::levenshtein(&wanted_lower, &c.to_lowercase()), c))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `did you mean "x"?` as a help line, or nothing.
pub fn help_for<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(wanted, candidates).map(|c| format!("did you mean \"{c}\"?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name() {
        let names = ["alice@acme.test", "bob@acme.test"];
        assert_eq!(
            did_you_mean("alise@acme.test", names),
            Some("alice@acme.test")
        );
        assert_eq!(
            did_you_mean("ALICE@acme.test", names),
            Some("alice@acme.test")
        );
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(did_you_mean("carol@other.test", ["alice@acme.test"]), None);
        assert_eq!(did_you_mean("x", ["alice"]), None);
    }
}

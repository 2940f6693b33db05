//! The scenarios: what one call is (calls.rs), how an `apikeys` instance is prepared
//! (setup.rs), the argon2-bound ones (cold.rs) and the memory measurement (rss.rs).

pub mod calls;
pub mod cold;
pub mod rss;
pub mod setup;

use std::fmt;

/// A scenario of the issue: (a) … (e), plus the RSS measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    Bare,
    WarmCredentials,
    WarmTokens,
    CheckBasic,
    CheckBearer,
    ColdIntrospect,
    CreateKey,
    Rss,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Bare,
        Scenario::WarmCredentials,
        Scenario::WarmTokens,
        Scenario::CheckBasic,
        Scenario::CheckBearer,
        Scenario::ColdIntrospect,
        Scenario::CreateKey,
        Scenario::Rss,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Scenario::Bare => "a",
            Scenario::WarmCredentials => "b1",
            Scenario::WarmTokens => "b2",
            Scenario::CheckBasic => "c1",
            Scenario::CheckBearer => "c2",
            Scenario::ColdIntrospect => "d",
            Scenario::CreateKey => "e",
            Scenario::Rss => "rss",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scenario::Bare => "bare tonic Introspect, no work",
            Scenario::WarmCredentials => "Introspect warm, client_id+secret",
            Scenario::WarmTokens => "Introspect warm, access token",
            Scenario::CheckBasic => "ext_authz Check warm, Basic",
            Scenario::CheckBearer => "ext_authz Check warm, Bearer token",
            Scenario::ColdIntrospect => "Introspect cold (argon2 each call)",
            Scenario::CreateKey => "CreateKey",
            Scenario::Rss => "RSS with cached keys",
        }
    }

    /// Parses `--scenarios`: ids, or `b` / `c` for both variants, or `all`.
    pub fn parse_list(items: &[String]) -> anyhow::Result<Vec<Scenario>> {
        let mut selected = Vec::new();
        for item in items {
            let item = item.trim();
            let matched: Vec<Scenario> = match item {
                "" => continue,
                "all" => Scenario::ALL.to_vec(),
                "b" => vec![Scenario::WarmCredentials, Scenario::WarmTokens],
                "c" => vec![Scenario::CheckBasic, Scenario::CheckBearer],
                other => match Scenario::ALL.iter().find(|s| s.id() == other) {
                    Some(scenario) => vec![*scenario],
                    None => anyhow::bail!(
                        "unknown scenario {other:?}: expected a, b, b1, b2, c, c1, c2, d, e, rss or all"
                    ),
                },
            };
            selected.extend(matched);
        }
        selected.sort();
        selected.dedup();
        Ok(selected)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn parses_scenario_lists() {
        let parsed = Scenario::parse_list(&["c".into(), "a".into(), "a".into()]).expect("parse");
        assert_eq!(
            parsed,
            vec![Scenario::Bare, Scenario::CheckBasic, Scenario::CheckBearer]
        );
        assert!(Scenario::parse_list(&["z".into()]).is_err());
    }
}
